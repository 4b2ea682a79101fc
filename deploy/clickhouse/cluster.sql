-- driftd schema for a ClickHouse CLUSTER: replicated + sharded variant of src/store/migrations.ts
-- (schema version 24). Run once, as an administrator, before the first driftd start:
--
--   clickhouse-client --multiquery < deploy/clickhouse/cluster.sql
--
-- Every table of the single-node schema becomes
--   driftd.<table>_local   Replicated*MergeTree on every node ('{shard}'/'{replica}' macros)
--   driftd.<table>         Distributed over '{cluster}', the name driftd's SQL uses
-- with the same columns, codecs, partitioning, ORDER BY and TTL as the migrations (a test,
-- test/integration/store/clickhouse-cluster-schema.test.ts, keeps the two in sync). The last
-- statement records schema versions 1..24, so driftd's migrate() finds the schema current and
-- changes nothing. See deploy/clickhouse/README.md for the settings profile the daemon's user
-- needs, the sharding keys, and how to apply future migrations.
--
-- Raw-data TTL: 30 days (store.rawEventsTtlDays must say the same; the value is recorded in
-- store_settings at the end of this file). Results: kept forever (store.resultsTtlDays 0);
-- another value is applied by driftd at its start, as the raw TTL is.

CREATE DATABASE IF NOT EXISTS driftd ON CLUSTER '{cluster}';

-- Settings for the daemon's user (CREATE USER … SETTINGS PROFILE 'driftd', see the README).
CREATE SETTINGS PROFILE IF NOT EXISTS driftd ON CLUSTER '{cluster}' SETTINGS
  distributed_foreground_insert = 1,
  distributed_product_mode = 'local',
  insert_quorum = 'auto';

-- store_settings: driftd's own configuration-derived state (the raw-data TTL).
CREATE TABLE IF NOT EXISTS driftd.store_settings_local ON CLUSTER '{cluster}'
(
  key LowCardinality(String),
  value String,
  updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', updated_at)
ORDER BY key;

CREATE TABLE IF NOT EXISTS driftd.store_settings ON CLUSTER '{cluster}' AS driftd.store_settings_local
ENGINE = Distributed('{cluster}', 'driftd', 'store_settings_local', cityHash64(key));

-- schema_migrations: applied schema versions.
CREATE TABLE IF NOT EXISTS driftd.schema_migrations_local ON CLUSTER '{cluster}'
(
  version UInt32,
  name String,
  applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY version;

CREATE TABLE IF NOT EXISTS driftd.schema_migrations ON CLUSTER '{cluster}' AS driftd.schema_migrations_local
ENGINE = Distributed('{cluster}', 'driftd', 'schema_migrations_local', version);

-- events: raw predictions. Sharded by (model, id): every copy of a prediction (redeliveries,
-- several sources) lands on one shard, so FINAL and LIMIT 1 BY id collapse them, and the
-- labels of a prediction live on the same shard (distributed_product_mode = 'local').
CREATE TABLE IF NOT EXISTS driftd.events_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  id String CODEC(ZSTD(1)),
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  features String CODEC(ZSTD(1)),
  prediction String CODEC(ZSTD(1)),
  raw String CODEC(ZSTD(1)),
  late UInt8,
  source LowCardinality(String),
  kafka_topic LowCardinality(String),
  kafka_partition Int32,
  kafka_offset Int64,
  replay_file LowCardinality(String),
  replay_line UInt64,
  ingested_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  ingest_seq UInt64 CODEC(Delta, ZSTD(1)),
  request_key String CODEC(ZSTD(1)),
  lane LowCardinality(String),
  INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_ingest_seq ingest_seq TYPE minmax GRANULARITY 1,
  INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', ingested_at)
PARTITION BY toYYYYMMDD(ts)
PRIMARY KEY (model, version, ts, id, source, kafka_topic, kafka_partition, kafka_offset)
ORDER BY (model, version, ts, id, source, kafka_topic, kafka_partition, kafka_offset, ingest_seq, lane)
TTL toDate(ingested_at) + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 8192, merge_selector_base = 30;

CREATE TABLE IF NOT EXISTS driftd.events ON CLUSTER '{cluster}' AS driftd.events_local
ENGINE = Distributed('{cluster}', 'driftd', 'events_local', cityHash64(model, id));

-- labels: co-sharded with events by (model, id).
CREATE TABLE IF NOT EXISTS driftd.labels_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  id String CODEC(ZSTD(1)),
  ts DateTime64(3, 'UTC') CODEC(ZSTD(1)),
  label String CODEC(ZSTD(1)),
  ingested_at DateTime64(3, 'UTC') CODEC(ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', ingested_at)
ORDER BY (model, id)
TTL toDate(ingested_at) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS driftd.labels ON CLUSTER '{cluster}' AS driftd.labels_local
ENGINE = Distributed('{cluster}', 'driftd', 'labels_local', cityHash64(model, id));

-- baselines: small; sharded by model.
CREATE TABLE IF NOT EXISTS driftd.baselines_local ON CLUSTER '{cluster}'
(
  id String,
  hash String,
  model LowCardinality(String),
  version LowCardinality(String),
  created_at DateTime64(3, 'UTC'),
  source String,
  row_count UInt64,
  bad_rows UInt64,
  feature_names Array(String),
  params String,
  profile String CODEC(ZSTD(3))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (model, version, id);

CREATE TABLE IF NOT EXISTS driftd.baselines ON CLUSTER '{cluster}' AS driftd.baselines_local
ENGINE = Distributed('{cluster}', 'driftd', 'baselines_local', cityHash64(model));

-- window_results: sharded by model, so every revision of a window is on one shard and FINAL
-- collapses a rewrite with the row it replaces.
CREATE TABLE IF NOT EXISTS driftd.window_results_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  segment LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  kind LowCardinality(String),
  feature LowCardinality(String),
  feature_type LowCardinality(String),
  test LowCardinality(String),
  statistic Float64 CODEC(Gorilla, ZSTD(1)),
  p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  adjusted_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  threshold Float64 CODEC(Gorilla, ZSTD(1)),
  drifted UInt8,
  psi Float64 CODEC(Gorilla, ZSTD(1)),
  ks_statistic Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  ks_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  ks_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  verdict_rule LowCardinality(String) DEFAULT 'threshold',
  effect Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)),
  effect_floor Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  statistic_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  bound_straddles_threshold UInt8 DEFAULT 0,
  count UInt64 CODEC(T64, ZSTD(1)),
  missing_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  out_of_range_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  unseen_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  other_ratio Float64 DEFAULT unseen_ratio CODEC(Gorilla, ZSTD(1)),
  insufficient UInt8,
  insufficient_reason LowCardinality(String) DEFAULT '',
  histogram String CODEC(ZSTD(3)),
  baseline_id LowCardinality(String),
  baseline_hash LowCardinality(String),
  reference LowCardinality(String) DEFAULT 'baseline',
  reference_found UInt16 DEFAULT 0,
  reference_start Nullable(DateTime64(3, 'UTC')),
  reference_end Nullable(DateTime64(3, 'UTC')),
  reference_event_count UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)),
  reference_note String DEFAULT '' CODEC(ZSTD(1)),
  event_count UInt64 CODEC(T64, ZSTD(1)),
  late_count UInt64 CODEC(T64, ZSTD(1)),
  drift_share Float64 CODEC(Gorilla, ZSTD(1)),
  dataset_drift UInt8,
  provisional UInt8 DEFAULT 0,
  closed_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String) DEFAULT '',
  config_hash LowCardinality(String) DEFAULT '',
  revision_reason LowCardinality(String) DEFAULT 'migrated',
  written_at DateTime64(3, 'UTC') DEFAULT closed_at CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', closed_at)
PARTITION BY toYYYYMM(window_start)
PRIMARY KEY (model, window, window_start, version, kind, feature)
ORDER BY (model, window, window_start, version, kind, feature, segment);

CREATE TABLE IF NOT EXISTS driftd.window_results ON CLUSTER '{cluster}' AS driftd.window_results_local
ENGINE = Distributed('{cluster}', 'driftd', 'window_results_local', cityHash64(model));

-- performance: sharded by model, like window_results.
CREATE TABLE IF NOT EXISTS driftd.performance_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  segment LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  labeled UInt64,
  coverage Float64 CODEC(Gorilla, ZSTD(1)),
  metrics Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
  computed_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String) DEFAULT '',
  config_hash LowCardinality(String) DEFAULT '',
  revision_reason LowCardinality(String) DEFAULT 'migrated',
  written_at DateTime64(3, 'UTC') DEFAULT computed_at CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', computed_at)
PARTITION BY toYYYYMM(window_start)
PRIMARY KEY (model, window, window_start, version)
ORDER BY (model, window, window_start, version, segment);

CREATE TABLE IF NOT EXISTS driftd.performance ON CLUSTER '{cluster}' AS driftd.performance_local
ENGINE = Distributed('{cluster}', 'driftd', 'performance_local', cityHash64(model));

-- window_result_revisions: every window result ever written (append-only, migration 12),
-- sharded like window_results; driftd writes only here, and the view below feeds each row on
-- to window_results_local on the same shard, so both tables always hold the same windows.
CREATE TABLE IF NOT EXISTS driftd.window_result_revisions_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  segment LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  kind LowCardinality(String),
  feature LowCardinality(String),
  feature_type LowCardinality(String),
  test LowCardinality(String),
  statistic Float64 CODEC(Gorilla, ZSTD(1)),
  p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  adjusted_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  threshold Float64 CODEC(Gorilla, ZSTD(1)),
  drifted UInt8,
  psi Float64 CODEC(Gorilla, ZSTD(1)),
  ks_statistic Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  ks_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  ks_p_value Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  verdict_rule LowCardinality(String) DEFAULT 'threshold',
  effect Float64 DEFAULT 0 CODEC(Gorilla, ZSTD(1)),
  effect_floor Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  statistic_bound Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
  bound_straddles_threshold UInt8 DEFAULT 0,
  count UInt64 CODEC(T64, ZSTD(1)),
  missing_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  out_of_range_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  unseen_ratio Float64 CODEC(Gorilla, ZSTD(1)),
  other_ratio Float64 DEFAULT unseen_ratio CODEC(Gorilla, ZSTD(1)),
  insufficient UInt8,
  insufficient_reason LowCardinality(String) DEFAULT '',
  histogram String CODEC(ZSTD(3)),
  baseline_id LowCardinality(String),
  baseline_hash LowCardinality(String),
  reference LowCardinality(String) DEFAULT 'baseline',
  reference_found UInt16 DEFAULT 0,
  reference_start Nullable(DateTime64(3, 'UTC')),
  reference_end Nullable(DateTime64(3, 'UTC')),
  reference_event_count UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)),
  reference_note String DEFAULT '' CODEC(ZSTD(1)),
  event_count UInt64 CODEC(T64, ZSTD(1)),
  late_count UInt64 CODEC(T64, ZSTD(1)),
  drift_share Float64 CODEC(Gorilla, ZSTD(1)),
  dataset_drift UInt8,
  provisional UInt8 DEFAULT 0,
  closed_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String) DEFAULT '',
  config_hash LowCardinality(String) DEFAULT '',
  revision_reason LowCardinality(String) DEFAULT 'migrated',
  written_at DateTime64(3, 'UTC') DEFAULT closed_at CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(window_start)
PRIMARY KEY (model, window, window_start, version, written_at, kind, feature)
ORDER BY (model, window, window_start, version, written_at, kind, feature, segment);

CREATE TABLE IF NOT EXISTS driftd.window_result_revisions ON CLUSTER '{cluster}' AS driftd.window_result_revisions_local
ENGINE = Distributed('{cluster}', 'driftd', 'window_result_revisions_local', cityHash64(model));

CREATE MATERIALIZED VIEW IF NOT EXISTS driftd.window_results_latest_mv ON CLUSTER '{cluster}'
TO driftd.window_results_local
AS SELECT * FROM driftd.window_result_revisions_local;

-- performance_revisions: every performance row ever written (migration 13), like the above.
CREATE TABLE IF NOT EXISTS driftd.performance_revisions_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  segment LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  labeled UInt64,
  coverage Float64 CODEC(Gorilla, ZSTD(1)),
  metrics Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
  computed_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String) DEFAULT '',
  config_hash LowCardinality(String) DEFAULT '',
  revision_reason LowCardinality(String) DEFAULT 'migrated',
  written_at DateTime64(3, 'UTC') DEFAULT computed_at CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(window_start)
PRIMARY KEY (model, window, window_start, version, written_at)
ORDER BY (model, window, window_start, version, written_at, segment);

CREATE TABLE IF NOT EXISTS driftd.performance_revisions ON CLUSTER '{cluster}' AS driftd.performance_revisions_local
ENGINE = Distributed('{cluster}', 'driftd', 'performance_revisions_local', cityHash64(model));

CREATE MATERIALIZED VIEW IF NOT EXISTS driftd.performance_latest_mv ON CLUSTER '{cluster}'
TO driftd.performance_local
AS SELECT * FROM driftd.performance_revisions_local;

-- checkpoints: Kafka consumer checkpoints; all of a group's rows on one shard.
CREATE TABLE IF NOT EXISTS driftd.checkpoints_local ON CLUSTER '{cluster}'
(
  group_id String,
  seq UInt64,
  taken_at DateTime64(3, 'UTC'),
  payload String CODEC(ZSTD(3))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', seq)
ORDER BY group_id;

CREATE TABLE IF NOT EXISTS driftd.checkpoints ON CLUSTER '{cluster}' AS driftd.checkpoints_local
ENGINE = Distributed('{cluster}', 'driftd', 'checkpoints_local', cityHash64(group_id));

-- fairness_results: every fairness computation of a window, append-only; sharded by model.
CREATE TABLE IF NOT EXISTS driftd.fairness_results_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  window LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  attribute LowCardinality(String),
  protected_group String,
  reference LowCardinality(String),
  predictions UInt64,
  selected UInt64,
  tp UInt64,
  fp UInt64,
  fn UInt64,
  tn UInt64,
  selection_rate Nullable(Float64),
  true_positive_rate Nullable(Float64),
  false_positive_rate Nullable(Float64),
  selection_rate_ratio Nullable(Float64),
  true_positive_rate_ratio Nullable(Float64),
  false_positive_rate_ratio Nullable(Float64),
  verdict LowCardinality(String),
  disparity Nullable(UInt8),
  attribute_verdict LowCardinality(String),
  group_result String CODEC(ZSTD(1)),
  attribute_result String CODEC(ZSTD(1)),
  written_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, version, attribute, protected_group, written_at);

CREATE TABLE IF NOT EXISTS driftd.fairness_results ON CLUSTER '{cluster}' AS driftd.fairness_results_local
ENGINE = Distributed('{cluster}', 'driftd', 'fairness_results_local', cityHash64(model));

-- retrain_recommendations: append-only episode transitions (migration 17), sharded by model.
CREATE TABLE IF NOT EXISTS driftd.retrain_recommendations_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  episode_id String,
  status LowCardinality(String),
  window LowCardinality(String),
  triggers Array(LowCardinality(String)),
  opened_at DateTime64(3, 'UTC'),
  closed_at Nullable(DateTime64(3, 'UTC')),
  first_window_start DateTime64(3, 'UTC'),
  last_window_end DateTime64(3, 'UTC'),
  evidence String CODEC(ZSTD(3)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String),
  written_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (model, version, episode_id, written_at);

CREATE TABLE IF NOT EXISTS driftd.retrain_recommendations ON CLUSTER '{cluster}' AS driftd.retrain_recommendations_local
ENGINE = Distributed('{cluster}', 'driftd', 'retrain_recommendations_local', cityHash64(model));

-- version_comparisons: champion/challenger comparisons, append-only; sharded by model, like
-- window_results (a pair's rows on one shard, so LIMIT 1 BY finds the newest).
CREATE TABLE IF NOT EXISTS driftd.version_comparisons_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  champion LowCardinality(String),
  challenger LowCardinality(String),
  window LowCardinality(String),
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  champion_events UInt64,
  challenger_events UInt64,
  challenger_share Nullable(Float64),
  features String CODEC(ZSTD(1)),
  prediction String CODEC(ZSTD(1)),
  estimated String CODEC(ZSTD(1)),
  realised String CODEC(ZSTD(1)),
  shadow String CODEC(ZSTD(1)),
  driftd_version LowCardinality(String),
  config_hash LowCardinality(String),
  written_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, window, window_start, champion, challenger, written_at);

CREATE TABLE IF NOT EXISTS driftd.version_comparisons ON CLUSTER '{cluster}' AS driftd.version_comparisons_local
ENGINE = Distributed('{cluster}', 'driftd', 'version_comparisons_local', cityHash64(model));

-- Cluster mode (driftd's cluster.enabled, docs/scale-out.md; migrations 20–24): lanes'
-- partial window states, their progress, and one finalisation per window. driftd writes a
-- finalised window's results, performance and finalisation row with
-- insert_deduplication_token 'final:<window>' and deduplicate_blocks_in_dependent_materialized_views
-- = 1, so two instances finalising one window leave one revision. Replicated tables deduplicate
-- inserts by token without further settings (replicated_deduplication_window; migration 23 is
-- the single-node equivalent); the token reaches the shard's local table through the
-- Distributed table with distributed_foreground_insert = 1 (the profile above), and a window's
-- rows go to one shard (sharded by model).

-- window_partials: each lane's part of a window, final or provisional; sharded by model, so
-- a window's partials are on one shard.
CREATE TABLE IF NOT EXISTS driftd.window_partials_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  size_label LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  lane LowCardinality(String),
  final UInt8,
  position String,
  baseline_id LowCardinality(String),
  events UInt64,
  state String CODEC(ZSTD(3)),
  instance LowCardinality(String),
  written_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  INDEX written_at_minmax written_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', written_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, version, size_label, window_start, lane, final);

CREATE TABLE IF NOT EXISTS driftd.window_partials ON CLUSTER '{cluster}' AS driftd.window_partials_local
ENGINE = Distributed('{cluster}', 'driftd', 'window_partials_local', cityHash64(model));

-- lane_progress: where each lane stands per model version; a lane's rows on one shard.
CREATE TABLE IF NOT EXISTS driftd.lane_progress_local ON CLUSTER '{cluster}'
(
  lane LowCardinality(String),
  model LowCardinality(String),
  version LowCardinality(String),
  watermark Nullable(DateTime64(3, 'UTC')),
  idle UInt8,
  retired UInt8,
  position String,
  seq UInt64,
  instance LowCardinality(String),
  written_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', seq)
ORDER BY (lane, model, version);

CREATE TABLE IF NOT EXISTS driftd.lane_progress ON CLUSTER '{cluster}' AS driftd.lane_progress_local
ENGINE = Distributed('{cluster}', 'driftd', 'lane_progress_local', cityHash64(lane));

-- window_finalisations: one row per finalised window and revision (the token drops a second
-- instance's);
-- sharded by model, like the window's results.
CREATE TABLE IF NOT EXISTS driftd.window_finalisations_local ON CLUSTER '{cluster}'
(
  model LowCardinality(String),
  version LowCardinality(String),
  size_label LowCardinality(String),
  window_size_ms UInt64,
  window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  window_end DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  revision UInt32 DEFAULT 0,
  lanes Array(LowCardinality(String)),
  events UInt64,
  instance LowCardinality(String),
  written_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  delay_seconds Float64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (model, version, size_label, window_start);

CREATE TABLE IF NOT EXISTS driftd.window_finalisations ON CLUSTER '{cluster}' AS driftd.window_finalisations_local
ENGINE = Distributed('{cluster}', 'driftd', 'window_finalisations_local', cityHash64(model));

-- Schema versions 1..25 of src/store/migrations.ts are in place (migration 3, the insert
-- deduplication window of non-replicated tables, is what Replicated* tables do by default;
-- migrations 4 (raw-data TTL counted from ingestion), 5 (the events' `raw` column), 6
-- (merge_selector_base of events), 7 (the events' HTTP ingest position and request key), 8
-- (window_results.provisional), 9 (window_results' statistic bounds and other_ratio), 10
-- (calibrated verdict columns of window_results), 11 (window_results' reference columns),
-- 12, 13 (the revision tables, their views and the lineage columns), 14 (fairness_results),
-- 15 (window_results.segment), 16 (version_comparisons), 17 (retrain_recommendations), 18
-- (TTL on the row's Date), 19 (performance.segment), 20–22 (the cluster-mode tables), 24
-- (events.lane), 25 (window_finalisations.revision, the written_at index of window_partials)
-- are written into the tables above; 23, the deduplication window of the
-- finalised tables, is what Replicated* tables do by default).
-- Once, from one node, after the tables exist: through the Distributed tables.
INSERT INTO driftd.schema_migrations (version, name, applied_at) VALUES
  (1, 'initial schema: events, labels, baselines, window_results, performance', now64(3, 'UTC')),
  (2, 'checkpoints: Kafka consumer checkpoints (window snapshots + offsets) per group', now64(3, 'UTC')),
  (3, 'insert deduplication window on every table: a repeated INSERT block is written once', now64(3, 'UTC')),
  (4, 'raw-data TTL counts from ingestion, not event time', now64(3, 'UTC')),
  (5, 'events.raw: the received event text, the features read from it', now64(3, 'UTC')),
  (6, 'events: merge parts in wider steps (less rewriting of raw rows)', now64(3, 'UTC')),
  (7, 'events.ingest_seq, events.request_key: the HTTP input position and Idempotency-Key', now64(3, 'UTC')),
  (8, 'window_results.provisional: a quiet window’s result, replaced by its final one', now64(3, 'UTC')),
  (9, 'window_results: statistic_bound, bound_straddles_threshold, other_ratio', now64(3, 'UTC')),
  (10, 'window_results: calibrated verdicts (rule, effect, effect floor) and the KS p-value of every numeric feature', now64(3, 'UTC')),
  (11, 'window_results: the reference each window was compared with, and why a verdict is insufficient', now64(3, 'UTC')),
  (12, 'window_result_revisions: every window result ever written, with its reason, driftd version and config hash; window_results fed from it', now64(3, 'UTC')),
  (13, 'performance_revisions: every performance row ever written (late labels), with its reason, driftd version and config hash; performance fed from it', now64(3, 'UTC')),
  (14, 'fairness_results: every fairness computation of a window, per protected attribute and group', now64(3, 'UTC')),
  (15, 'window_results.segment: the results of each segment of a window beside the whole traffic', now64(3, 'UTC')),
  (16, 'version_comparisons: champion/challenger comparisons per window, append-only', now64(3, 'UTC')),
  (17, 'retrain_recommendations: one row per retrain episode transition (opened, closed)', now64(3, 'UTC')),
  (18, 'raw-data and results TTL on the Date of the row: a DateTime TTL overflowed past 2106 and dropped rows at once', now64(3, 'UTC')),
  (19, 'performance.segment: the performance of each segment of a window beside the whole traffic', now64(3, 'UTC')),
  (20, 'window_partials: each lane’s part of a window (cluster mode), final or provisional', now64(3, 'UTC')),
  (21, 'lane_progress: where each lane stands per model version (cluster mode), with each lane checkpoint', now64(3, 'UTC')),
  (22, 'window_finalisations: one row per window finalised from its lanes’ partials (cluster mode)', now64(3, 'UTC')),
  (23, 'results and performance remember 10 000 inserted blocks: a finalised window’s token outlives the inserts between two instances’ writes', now64(3, 'UTC')),
  (24, 'events.lane: the lane (HTTP input of an instance) a raw event was counted in', now64(3, 'UTC')),
  (25, 'window_finalisations.revision and a written_at index on window_partials: a finalised window is revised when a lane’s final partial brings events beyond what was merged', now64(3, 'UTC'));

INSERT INTO driftd.store_settings (key, value, updated_at) VALUES
  ('raw_events_ttl_days', '30', now64(3, 'UTC')),
  ('results_ttl_days', '0', now64(3, 'UTC'));
