// A Go app calling brokerside with google.golang.org/grpc and stubs generated
// by protoc-gen-go / protoc-gen-go-grpc: health, Stats, and a Send's status
// code. Prints one JSON object. Usage: go run ./smoke HOST:PORT
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	v1 "brokerside.test/clients/gen/brokerside/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

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
	text, _ := json.Marshal(out)
	fmt.Println(string(text))
}
