// A Java 17 app calling brokerside with grpc-java and stubs generated from
// proto/brokerside/** (see pom.xml): health, Stats, a Send's status code, and
// Redis through it — binary-safe SET / GET, a SendStream of 100 INCRs, a lease
// running MULTI / EXEC, a Recv subscription (async stub) whose delivery is
// acked, and a malformed Send refused. Prints one JSON object.
// Usage: Smoke HOST:PORT KEY_PREFIX
package dev.brokerside.smoke;

import com.google.protobuf.ByteString;
import dev.brokerside.v1.AcquireRequest;
import dev.brokerside.v1.Ack;
import dev.brokerside.v1.BrokerGrpc;
import dev.brokerside.v1.Command;
import dev.brokerside.v1.Publish;
import dev.brokerside.v1.RecvRequest;
import dev.brokerside.v1.RecvResponse;
import dev.brokerside.v1.ReleaseRequest;
import dev.brokerside.v1.SendRequest;
import dev.brokerside.v1.SendResponse;
import dev.brokerside.v1.SendStreamRequest;
import dev.brokerside.v1.SendStreamResponse;
import dev.brokerside.v1.StatsRequest;
import dev.brokerside.v1.Subscribe;
import dev.brokerside.v1.TargetStats;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public final class Smoke {
  private static final String TARGET = "cache";

  public static void main(String[] args) throws Exception {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(args[0]).usePlaintext().build();
    String prefix = args[1];
    try {
      System.out.println(json(run(channel, prefix)));
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  // A deadline is per call: withDeadlineAfter on a fresh stub for each one
  // (a stub's deadline is fixed when the stub is made, and would run out).
  private static BrokerGrpc.BrokerBlockingStub broker(ManagedChannel channel) {
    return BrokerGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS);
  }

  // Every argument is bytes: ByteString, also for text.
  private static SendRequest command(String lease, Object... args) {
    Command.Builder c = Command.newBuilder();
    for (Object a : args) {
      c.addArgs(a instanceof byte[] b ? ByteString.copyFrom(b) : ByteString.copyFromUtf8(a.toString()));
    }
    return SendRequest.newBuilder().setTarget(TARGET).setLease(lease).setCommand(c).build();
  }

  private static LinkedHashMap<String, Object> run(ManagedChannel channel, String prefix) throws Exception {
    LinkedHashMap<String, Object> out = new LinkedHashMap<>();
    out.put("health", HealthGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance()).getStatus().name());

    List<Object> targets = new ArrayList<>();
    for (TargetStats t : broker(channel).stats(StatsRequest.getDefaultInstance()).getTargetsList()) {
      LinkedHashMap<String, Object> target = new LinkedHashMap<>();
      target.put("name", t.getName());
      target.put("adapter", t.getAdapter());
      target.put("urls", new ArrayList<Object>(t.getUrlsList()));
      targets.add(target);
    }
    out.put("targets", targets);

    try {
      broker(channel).send(SendRequest.newBuilder().setTarget("nope")
          .setCommand(Command.newBuilder().addArgs(ByteString.copyFromUtf8("PING"))).build());
      out.put("send_code", 0);
    } catch (StatusRuntimeException e) {
      // io.grpc.Status, not the API's dev.brokerside.v1.Status (a stream outcome's).
      out.put("send_code", e.getStatus().getCode().value());
      out.put("send_details", e.getStatus().getDescription());
    }

    broker(channel).send(command("", "SET", prefix + ":k", "set by java"));
    out.put("get", broker(channel).send(command("", "GET", prefix + ":k")).getReply().getBytes().toStringUtf8());
    // Binary-safe: every byte value, NUL and 0xff among them, back as sent.
    byte[] all = new byte[256];
    for (int i = 0; i < all.length; i++) all[i] = (byte) i;
    broker(channel).send(command("", "SET", prefix + ":bin", all));
    byte[] back = broker(channel).send(command("", "GET", prefix + ":bin")).getReply().getBytes().toByteArray();
    out.put("binary_intact", java.util.Arrays.equals(all, back));
    broker(channel).send(command("", "DEL", prefix + ":bin"));

    int[] stream = sendStream(channel, prefix + ":n");
    out.put("stream_count", stream[0]);
    out.put("stream_max", stream[1]);
    out.put("lease_exec", lease(channel, prefix + ":tx"));
    out.put("delivery", pubsub(channel, prefix + ":news"));

    try {
      broker(channel).send(SendRequest.newBuilder().setTarget(TARGET).setCommand(Command.getDefaultInstance()).build());
      out.put("bad_code", 0);
    } catch (StatusRuntimeException e) {
      out.put("bad_code", e.getStatus().getCode().value());
      out.put("bad_details", e.getStatus().getDescription());
    }
    return out;
  }

  // 100 INCRs on one SendStream: how many came back OK, and the largest count.
  private static int[] sendStream(ManagedChannel channel, String key) throws Exception {
    int[] result = new int[2];
    CountDownLatch done = new CountDownLatch(1);
    Throwable[] failure = new Throwable[1];
    StreamObserver<SendStreamRequest> requests = BrokerGrpc.newStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
        .sendStream(new StreamObserver<SendStreamResponse>() {
          @Override
          public void onNext(SendStreamResponse r) {
            if (r.getStatus().getCode() == 0) {
              result[0]++;
              result[1] = (int) Math.max(result[1], r.getResult().getReply().getInteger());
            }
          }

          @Override
          public void onError(Throwable t) {
            failure[0] = t;
            done.countDown();
          }

          @Override
          public void onCompleted() {
            done.countDown();
          }
        });
    for (int i = 0; i < 100; i++) {
      // uint64 ids are Java longs (read them with Long.toUnsignedString).
      requests.onNext(SendStreamRequest.newBuilder().setId(i).setSend(command("", "INCR", key)).build());
    }
    requests.onCompleted();
    if (!done.await(15, TimeUnit.SECONDS)) throw new IllegalStateException("SendStream did not end");
    if (failure[0] != null) throw new IllegalStateException(failure[0]);
    return result;
  }

  // A lease pins one connection: MULTI, two commands queued, EXEC's array.
  private static List<Object> lease(ManagedChannel channel, String key) {
    String lease = broker(channel).acquire(AcquireRequest.newBuilder().setTarget(TARGET)
        .setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(10)).build()).getLease();
    try {
      broker(channel).send(command(lease, "MULTI"));
      broker(channel).send(command(lease, "SET", key, "in a transaction"));
      broker(channel).send(command(lease, "GET", key));
      SendResponse exec = broker(channel).send(command(lease, "EXEC"));
      List<Object> replies = new ArrayList<>();
      for (dev.brokerside.v1.Value v : exec.getReply().getArray().getValuesList()) {
        replies.add(v.hasBytes() ? v.getBytes().toStringUtf8() : v.getText());
      }
      return replies;
    } finally {
      broker(channel).release(ReleaseRequest.newBuilder().setLease(lease).build());
      broker(channel).send(command("", "DEL", key));
    }
  }

  // Recv on the async stub: subscribe; once subscribed, publish; the first
  // delivery is acked and the stream half-closed.
  private static LinkedHashMap<String, Object> pubsub(ManagedChannel channel, String source) throws Exception {
    CompletableFuture<RecvResponse> first = new CompletableFuture<>();
    CountDownLatch ended = new CountDownLatch(1);
    StreamObserver<RecvRequest> requests = BrokerGrpc.newStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
        .recv(new StreamObserver<RecvResponse>() {
          @Override
          public void onNext(RecvResponse r) {
            if (r.hasSubscribed()) {
              broker(channel).send(SendRequest.newBuilder().setTarget(TARGET)
                  .setPublish(Publish.newBuilder().setDestination(source)
                      .setMessage(dev.brokerside.v1.Message.newBuilder()
                          .setBody(ByteString.copyFromUtf8("hello from java"))))
                  .build());
            } else if (r.hasDelivery()) {
              first.complete(r);
            }
          }

          @Override
          public void onError(Throwable t) {
            first.completeExceptionally(t);
            ended.countDown();
          }

          @Override
          public void onCompleted() {
            ended.countDown();
          }
        });
    // StreamObserver is not thread-safe: only this thread writes to it.
    requests.onNext(RecvRequest.newBuilder()
        .setSubscribe(Subscribe.newBuilder().setTarget(TARGET).addSources(source).setCredit(10)).build());
    RecvResponse delivery = first.get(10, TimeUnit.SECONDS);
    requests.onNext(RecvRequest.newBuilder()
        .setAck(Ack.newBuilder().addDeliveryIds(delivery.getDelivery().getDeliveryId())).build());
    requests.onCompleted();
    LinkedHashMap<String, Object> out = new LinkedHashMap<>();
    out.put("source", delivery.getDelivery().getSource());
    out.put("body", delivery.getDelivery().getMessage().getBody().toStringUtf8());
    out.put("stream_ended", ended.await(10, TimeUnit.SECONDS));
    return out;
  }

  private static String json(Object value) {
    if (value == null) return "null";
    if (value instanceof String s) {
      StringBuilder b = new StringBuilder("\"");
      for (char c : s.toCharArray()) {
        if (c == '"' || c == '\\') b.append('\\').append(c);
        else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
        else b.append(c);
      }
      return b.append('"').toString();
    }
    if (value instanceof java.util.Map<?, ?> m) {
      List<String> parts = new ArrayList<>();
      m.forEach((k, v) -> parts.add(json(k.toString()) + ": " + json(v)));
      return "{" + String.join(", ", parts) + "}";
    }
    if (value instanceof List<?> l) {
      List<String> parts = new ArrayList<>();
      for (Object v : l) parts.add(json(v));
      return "[" + String.join(", ", parts) + "]";
    }
    return value.toString();  // numbers, booleans
  }
}
