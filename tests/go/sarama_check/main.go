// sarama_check drives Debian's sarama (1.22) against a Kafka listener for tests/kafka/test_clients_go.py.
// Each mode prints one JSON line on success and exits non-zero with the error otherwise.
//
//	produce BOOTSTRAP TOPIC N            SyncProducer, default config (Produce v0, magic 0)
//	offsets BOOTSTRAP GROUP TOPIC N      Consumer + OffsetManager, default config: consume N from the
//	                                     committed offset (else the oldest), commit (OffsetCommit v1)
//	group BOOTSTRAP GROUP TOPIC N        ConsumerGroup (needs Version >= 0.10.2, sarama's minimum for
//	                                     groups): consume N in the group, commit, leave
//	admin BOOTSTRAP TOPIC                ClusterAdmin at Version 1.0: create, list topics, describe configs
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
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

// newConfig is sarama's default configuration, with SASL/PLAIN when SASL_USERNAME is set (the
// listener lets only staff users create topics).
func newConfig() *sarama.Config {
	config := sarama.NewConfig()
	if user := os.Getenv("SASL_USERNAME"); user != "" {
		config.Net.SASL.Enable = true
		config.Net.SASL.User = user
		config.Net.SASL.Password = os.Getenv("SASL_PASSWORD")
	}
	return config
}

func produce(bootstrap, topic string, n int) {
	config := newConfig()
	config.Producer.Return.Successes = true // what a SyncProducer requires
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, config)
	if err != nil {
		fail(err)
	}
	defer producer.Close()
	offsets := []int64{}
	for i := 0; i < n; i++ {
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)),
		})
		if err != nil {
			fail(err)
		}
		offsets = append(offsets, offset)
	}
	emit(map[string]interface{}{"offsets": offsets})
}

func offsets(bootstrap, group, topic string, n int) {
	config := newConfig()
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	client, err := sarama.NewClient([]string{bootstrap}, config)
	if err != nil {
		fail(err)
	}
	defer client.Close()
	manager, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		fail(err)
	}
	pom, err := manager.ManagePartition(topic, 0)
	if err != nil {
		fail(err)
	}
	start, _ := pom.NextOffset()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail(err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, start)
	if err != nil {
		fail(err)
	}
	values := []string{}
	timeout := time.After(20 * time.Second)
	for len(values) < n {
		select {
		case m := <-pc.Messages():
			values = append(values, string(m.Value))
			pom.MarkOffset(m.Offset+1, "")
		case err := <-pc.Errors():
			fail(err)
		case <-timeout:
			fail(fmt.Errorf("timed out with %d of %d messages", len(values), n))
		}
	}
	pc.Close()
	consumer.Close()
	// Closing the offset manager commits what was marked.
	if err := pom.Close(); err != nil {
		fail(err)
	}
	if err := manager.Close(); err != nil {
		fail(err)
	}
	emit(map[string]interface{}{"start": start, "values": values})
}

type handler struct {
	want   int
	values []string
	done   chan struct{}
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if len(h.values) >= h.want {
			return nil
		}
		h.values = append(h.values, string(m.Value))
		session.MarkMessage(m, "")
		if len(h.values) == h.want {
			close(h.done)
			return nil
		}
	}
	return nil
}

func group(bootstrap, groupID, topic string, n int) {
	config := newConfig()
	config.Version = sarama.V0_10_2_0
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, groupID, config)
	if err != nil {
		fail(err)
	}
	go func() {
		for err := range cg.Errors() {
			fmt.Fprintln(os.Stderr, "group error:", err)
		}
	}()
	h := &handler{want: n, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		<-h.done
		cancel()
	}()
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			fail(err)
		}
	}
	if len(h.values) < n {
		fail(fmt.Errorf("timed out with %d of %d messages", len(h.values), n))
	}
	// Closing the group commits the marked offsets and leaves the group.
	if err := cg.Close(); err != nil {
		fail(err)
	}
	emit(map[string]interface{}{"values": h.values})
}

func admin(bootstrap, topic string) {
	config := newConfig()
	config.Version = sarama.V1_0_0_0
	ca, err := sarama.NewClusterAdmin([]string{bootstrap}, config)
	if err != nil {
		fail(err)
	}
	defer ca.Close()
	// A Kafka Streams repartition topic's configs: most are stored only here, all are accepted.
	retention, segment, segmentMs, compression, lag := "3600000", "52428800", "600000", "lz4", "1000"
	err = ca.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{
			"retention.ms": &retention, "segment.bytes": &segment, "segment.ms": &segmentMs,
			"compression.type": &compression, "min.compaction.lag.ms": &lag,
		},
	}, false)
	if err != nil {
		fail(err)
	}
	topics, err := ca.ListTopics()
	if err != nil {
		fail(err)
	}
	names := map[string]int32{}
	for name, detail := range topics {
		names[name] = detail.NumPartitions
	}
	// AlterConfigs (sarama 1.22 has no incremental alter): the whole set of overrides.
	altered := "7200000"
	err = ca.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &altered, "segment.bytes": &segment}, false)
	if err != nil {
		fail(err)
	}
	entries, err := ca.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		fail(err)
	}
	configs := map[string]map[string]interface{}{}
	for _, e := range entries {
		configs[e.Name] = map[string]interface{}{"value": e.Value, "default": e.Default}
	}
	emit(map[string]interface{}{"topics": names, "configs": configs,
		"retention": topics[topic].ConfigEntries["retention.ms"]})
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
	if len(args) < 3 {
		fail(fmt.Errorf("usage: sarama_check produce|offsets|group|admin BOOTSTRAP ..."))
	}
	switch args[0] {
	case "produce":
		produce(args[1], args[2], number(args[3]))
	case "offsets":
		offsets(args[1], args[2], args[3], number(args[4]))
	case "group":
		group(args[1], args[2], args[3], number(args[4]))
	case "admin":
		admin(args[1], args[2])
	default:
		fail(fmt.Errorf("unknown mode %q", args[0]))
	}
}
