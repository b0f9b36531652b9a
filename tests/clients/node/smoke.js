// A Node.js app calling brokerside with @grpc/grpc-js and the .proto loaded at
// run time (no generated code): health, Stats, a Send's status code, and
// Redis through it: Send (SET, GET), a SendStream of 100 INCRs, and a Recv
// subscription that gets what the app publishes. Prints one JSON object.
// Usage: node smoke.js HOST:PORT PROTO_DIR KEY_PREFIX
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [address, protoDir, prefix] = process.argv.slice(2);
const load = (file) => grpc.loadPackageDefinition(loader.loadSync(file, {
  includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
}));
const v1 = load('brokerside/v1/brokerside.proto').brokerside.v1;
const health = load('grpc/health/v1/health.proto').grpc.health.v1;

const deadline = () => new Date(Date.now() + 5000);
const call = (client, method, request) => new Promise((resolve) => {
  client[method](request, { deadline: deadline() }, (err, reply) => resolve({ err, reply }));
});
const command = (...args) => ({ target: 'cache', command: { args: args.map((a) => Buffer.from(a)) } });
const value = (v) => {
  const x = v[v.kind];
  return Buffer.isBuffer(x) ? x.toString() : x;
};

// 100 INCRs on one SendStream; resolves to the outcomes by id.
const sendStream = (broker) => new Promise((resolve, reject) => {
  const stream = broker.SendStream({ deadline: deadline() });
  const outcomes = {};
  stream.on('data', (r) => { outcomes[r.id] = r.status && r.status.code !== 0 ? r.status : value(r.result.reply); });
  stream.on('error', reject);
  stream.on('end', () => resolve(outcomes));
  for (let i = 0; i < 100; i += 1) stream.write({ id: i, send: command('INCR', `${prefix}:n`) });
  stream.end();
});

// Subscribes, publishes once subscribed, and resolves to the first delivery.
const pubsub = (broker) => new Promise((resolve, reject) => {
  const channel = `${prefix}:news`;
  const stream = broker.Recv({ deadline: deadline() });
  stream.on('data', async (r) => {
    if (r.kind === 'subscribed') {
      const sent = await call(broker, 'Send', {
        target: 'cache', publish: { destination: channel, message: { body: Buffer.from('hello from node') } },
      });
      if (sent.err) reject(sent.err);
    } else if (r.kind === 'delivery') {
      resolve({ source: r.delivery.source, body: r.delivery.message.body.toString() });
      stream.cancel();
    }
  });
  stream.on('error', (err) => { if (err.code !== grpc.status.CANCELLED) reject(err); });
  stream.write({ subscribe: { target: 'cache', sources: [channel] } });
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

  await call(broker, 'Send', command('SET', `${prefix}:k`, 'set by node'));
  out.get = value((await call(broker, 'Send', command('GET', `${prefix}:k`))).reply.reply);
  const outcomes = await sendStream(broker);
  out.stream_count = Object.keys(outcomes).length;
  out.stream_max = Math.max(...Object.values(outcomes).map(Number));
  out.delivery = await pubsub(broker);
  console.log(JSON.stringify(out));
  broker.close();
  checker.close();
})().catch((err) => { console.error(err); process.exit(1); });
