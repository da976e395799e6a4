#!/usr/bin/env bash
# Creates streamrec's topics on the compose cluster (the topic-init service runs it once,
# in the apache/kafka image). Idempotent: existing topics are left as they are.
#
# Every topic: PARTITIONS partitions (must equal the workers' STREAMREC_PARTITIONS: the
# user-state table is co-partitioned with the events), replication factor 3 and
# min.insync.replicas 2, so a write acknowledged by acks=all survives losing one broker.
#
# Not here: Faust creates its own internal topics when the first worker starts:
#   streamrec-user-state-changelog   the user-state table's changelog: compacted,
#                                    STREAMREC_PARTITIONS partitions,
#                                    STREAMREC_REPLICATION_FACTOR replicas,
#                                    min.insync.replicas from the broker default (2)
#   streamrec-__assignor-__leader    leader election, 1 partition
set -euo pipefail

BOOTSTRAP="${BOOTSTRAP:-kafka-1:9092}"
PARTITIONS="${PARTITIONS:-12}"
REPLICATION="${REPLICATION:-3}"
MIN_ISR="${MIN_ISR:-2}"
PREFIX="${TOPIC_PREFIX:-}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"

# name               cleanup.policy  retention.ms (- for compacted topics: kept forever)  [partitions]
TOPICS=(
  "events.click        delete   604800000"
  "events.search       delete   604800000"
  "events.purchase     delete   604800000"
  "events.impression   delete   604800000"
  "items               compact  -"
  "item-vectors        compact  -"
  "recommendations     delete   86400000"
  "model-updates       compact  -"
  "dead-letter         delete   1209600000"
  "control             delete   604800000"
  "audit               delete   31536000000"
  "ranker-examples     delete   86400000     1"
  "item-signal-increments  delete  86400000"
  "item-signals        compact  -"
)

for row in "${TOPICS[@]}"; do
  read -r name policy retention partitions <<<"$row"
  # ranker-examples has one partition: its owner is the one trainer.
  args=(--bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "${PREFIX}${name}"
        --partitions "${partitions:-$PARTITIONS}" --replication-factor "$REPLICATION"
        --config "min.insync.replicas=${MIN_ISR}" --config "cleanup.policy=${policy}")
  if [[ "$retention" != "-" ]]; then
    args+=(--config "retention.ms=${retention}")
  fi
  "$KAFKA_TOPICS" "${args[@]}"
done

"$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --describe --topics-with-overrides
