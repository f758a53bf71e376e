// kafkago_check drives Debian's kafka-go (0.2) against a Kafka listener for tests/kafka/test_clients_go.py.
// Each mode prints one JSON line on success and exits non-zero with the error otherwise.
//
//	write BOOTSTRAP TOPIC N          Writer with its defaults (Produce v2, magic 1 messages)
//	read BOOTSTRAP GROUP TOPIC N     Reader in a group (Fetch v2; commits each message as read)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func emit(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func write(bootstrap, topic string, n int) {
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{bootstrap}, Topic: topic})
	defer w.Close()
	msgs := []kafka.Message{}
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fail(err)
	}
	emit(map[string]interface{}{"written": n})
}

func read(bootstrap, group, topic string, n int) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, GroupID: group, Topic: topic})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	values := []string{}
	keys := []string{}
	for len(values) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			fail(fmt.Errorf("after %d of %d messages: %v", len(values), n, err))
		}
		values = append(values, string(m.Value))
		keys = append(keys, string(m.Key))
	}
	if err := r.Close(); err != nil {
		fail(err)
	}
	emit(map[string]interface{}{"values": values, "keys": keys})
}

func number(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail(err)
	}
	return n
}

func main() {
	args := os.Args[1:]
	if len(args) < 4 {
		fail(fmt.Errorf("usage: kafkago_check write|read BOOTSTRAP ..."))
	}
	switch args[0] {
	case "write":
		write(args[1], args[2], number(args[3]))
	case "read":
		read(args[1], args[2], args[3], number(args[4]))
	default:
		fail(fmt.Errorf("unknown mode %q", args[0]))
	}
}
