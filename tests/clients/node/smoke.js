// A Node.js app calling brokerside with @grpc/grpc-js and the .proto loaded at
// run time (no generated code): health, Stats, and a Send's status code.
// Prints one JSON object. Usage: node smoke.js HOST:PORT PROTO_DIR
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [address, protoDir] = process.argv.slice(2);
const load = (file) => grpc.loadPackageDefinition(loader.loadSync(file, {
  includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true,
}));
const v1 = load('brokerside/v1/brokerside.proto').brokerside.v1;
const health = load('grpc/health/v1/health.proto').grpc.health.v1;

const deadline = () => new Date(Date.now() + 5000);
const call = (client, method, request) => new Promise((resolve) => {
  client[method](request, { deadline: deadline() }, (err, reply) => resolve({ err, reply }));
});

(async () => {
  const creds = grpc.credentials.createInsecure();
  const broker = new v1.Broker(address, creds);
  const checker = new health.Health(address, creds);
  const out = {};
  out.health = (await call(checker, 'Check', { service: '' })).reply.status;
  const stats = (await call(broker, 'Stats', {})).reply;
  out.targets = stats.targets.map((t) => ({ name: t.name, adapter: t.adapter, urls: t.urls }));
  const sent = await call(broker, 'Send', { target: 'nope', command: { args: [Buffer.from('PING')] } });
  out.send_code = sent.err.code;
  out.send_details = sent.err.details;
  console.log(JSON.stringify(out));
  broker.close();
  checker.close();
})();
