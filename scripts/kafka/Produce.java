// Kafka's own Java producer (kafka-clients, from the broker's jars) for tests that need batches
// written the way Java clients write them: compressed by the client with `compression.type`.
// Run through `bash scripts/kafka.sh produce` (Java's single-file source launcher: no build).
//
// Reads lines from stdin, each `codec<TAB>topic<TAB>partition<TAB>value` (codec: none, gzip,
// snappy, lz4 or zstd; partition -1 lets the producer choose), sends them with one producer per
// codec (linger.ms lets consecutive records of a partition share one compressed batch), waits
// for every acknowledgement (acks=all), and prints `codec records` per codec on stdout. Order is
// kept: where the codec changes from one line to the next, the previous producer is flushed
// (every record acknowledged) before the next line is sent.
// Exit status 1 when any send failed.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public class Produce {
  public static void main(String[] args) throws Exception {
    String brokers = args.length > 0 ? args[0] : "127.0.0.1:19092";
    Map<String, KafkaProducer<String, String>> producers = new TreeMap<>();
    Map<String, Integer> counts = new TreeMap<>();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    String previous = null;
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isEmpty()) continue;
      String[] f = line.split("\t", 4);
      if (f.length != 4) throw new IllegalArgumentException("expected codec\\ttopic\\tpartition\\tvalue: " + line);
      String codec = f[0];
      if (previous != null && !previous.equals(codec)) producers.get(previous).flush();
      previous = codec;
      KafkaProducer<String, String> p =
          producers.computeIfAbsent(codec, c -> producer(brokers, c));
      int partition = Integer.parseInt(f[2]);
      ProducerRecord<String, String> record =
          partition < 0
              ? new ProducerRecord<>(f[1], f[3])
              : new ProducerRecord<>(f[1], partition, null, f[3]);
      sent.add(p.send(record));
      counts.merge(codec, 1, Integer::sum);
    }
    int failed = 0;
    for (KafkaProducer<String, String> p : producers.values()) p.flush();
    for (Future<RecordMetadata> f : sent) {
      try {
        f.get();
      } catch (Exception e) {
        failed++;
        System.err.println("send failed: " + e);
      }
    }
    for (KafkaProducer<String, String> p : producers.values()) p.close();
    for (Map.Entry<String, Integer> e : counts.entrySet()) {
      System.out.println(e.getKey() + " " + e.getValue());
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  static KafkaProducer<String, String> producer(String brokers, String codec) {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, "50");
    props.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(1 << 20));
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "driftd-test-java-" + codec);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(props);
  }
}
