// A Go app calling brokerside with google.golang.org/grpc and stubs generated
// by protoc-gen-go / protoc-gen-go-grpc: health, Stats, a Send's status code,
// and Redis through it: Send (SET, GET), a SendStream of 100 INCRs, and a Recv
// subscription that gets what the app publishes. Prints one JSON object.
// Usage: smoke HOST:PORT KEY_PREFIX
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	v1 "brokerside.test/clients/gen/brokerside/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func command(args ...string) *v1.SendRequest {
	c := &v1.Command{}
	for _, a := range args {
		c.Args = append(c.Args, []byte(a))
	}
	return &v1.SendRequest{Target: "cache", Operation: &v1.SendRequest_Command{Command: c}}
}

// 100 INCRs on one SendStream: how many came back, and the largest count.
func sendStream(ctx context.Context, broker v1.BrokerClient, key string) (int, int64) {
	stream, err := broker.SendStream(ctx)
	if err != nil {
		fail(err)
	}
	for i := 0; i < 100; i++ {
		if err := stream.Send(&v1.SendStreamRequest{Id: uint64(i), Send: command("INCR", key)}); err != nil {
			fail(err)
		}
	}
	stream.CloseSend()
	count, largest := 0, int64(0)
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return count, largest
		}
		if err != nil {
			fail(err)
		}
		if r.Status.GetCode() == 0 {
			count++
			if n := r.Result.GetReply().GetInteger(); n > largest {
				largest = n
			}
		}
	}
}

// Subscribes, publishes once subscribed, and returns the first delivery.
func pubsub(ctx context.Context, broker v1.BrokerClient, channel string) map[string]string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := broker.Recv(ctx)
	if err != nil {
		fail(err)
	}
	subscribe := &v1.Subscribe{Target: "cache", Sources: []string{channel}}
	if err := stream.Send(&v1.RecvRequest{Kind: &v1.RecvRequest_Subscribe{Subscribe: subscribe}}); err != nil {
		fail(err)
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			fail(err)
		}
		if r.GetSubscribed() != nil {
			publish := &v1.Publish{Destination: channel,
				Message: &v1.Message{Content: &v1.Message_Body{Body: []byte("hello from go")}}}
			if _, err := broker.Send(ctx, &v1.SendRequest{Target: "cache",
				Operation: &v1.SendRequest_Publish{Publish: publish}}); err != nil {
				fail(err)
			}
		}
		if d := r.GetDelivery(); d != nil {
			return map[string]string{"source": d.Source, "body": string(d.Message.GetBody())}
		}
	}
}

func main() {
	conn, err := grpc.Dial(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	out := map[string]any{}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out["health"] = h.Status.String()
	broker := v1.NewBrokerClient(conn)
	stats, err := broker.Stats(ctx, &v1.StatsRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var targets []map[string]any
	for _, t := range stats.Targets {
		targets = append(targets, map[string]any{"name": t.Name, "adapter": t.Adapter, "urls": t.Urls})
	}
	out["targets"] = targets
	_, err = broker.Send(ctx, &v1.SendRequest{Target: "nope", Operation: &v1.SendRequest_Command{
		Command: &v1.Command{Args: [][]byte{[]byte("PING")}}}})
	out["send_code"] = int(status.Code(err))
	out["send_details"] = status.Convert(err).Message()

	prefix := os.Args[2]
	if _, err := broker.Send(ctx, command("SET", prefix+":k", "set by go")); err != nil {
		fail(err)
	}
	got, err := broker.Send(ctx, command("GET", prefix+":k"))
	if err != nil {
		fail(err)
	}
	out["get"] = string(got.GetReply().GetBytes())
	out["stream_count"], out["stream_max"] = sendStream(ctx, broker, prefix+":n")
	out["delivery"] = pubsub(ctx, broker, prefix+":news")
	text, _ := json.Marshal(out)
	fmt.Println(string(text))
}
