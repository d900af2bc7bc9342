# 0510-kcat: kcat (librdkafka 2.0.2) against runneld.
#
# kcat -L lists the broker at its address and an auto-created topic with
# num.partitions partitions; kcat -P produces lines with keys (-K:) and
# headers (-H), with every compression codec (-z), null values (-Z) and a
# 200 KiB binary file; kcat -C -e reads them back byte for byte, and -o
# picks absolute and relative start offsets. Records with one key stay in
# one partition.

if [ -z "$BASH_VERSION" ]; then
  exec bash "$0" "$@"
fi
. "$(dirname "$0")/harness.sh"

rn_init 180
rn_need kcat cmp head od
rn_plan 12

rn_broker_start --set auto.create.topics.enable=true --set num.partitions=3
if ! rn_ok $? "broker starts and listens"; then
  echo "Bail out! broker did not start"
  exit 1
fi

# -L: the broker, at the address it listens on.
md=$(rn_kcat -L 2>&1)
echo "$md" | grep -q "^ 1 brokers:" && echo "$md" | grep -q "broker 1 at $RN_BOOTSTRAP"
rn_ok $? "kcat -L lists one broker, id 1, at $RN_BOOTSTRAP" "$md"

# -P with keys and headers into partition 0 of a topic that does not exist.
want=""
for i in 1 2 3 4 5 6; do
  want+="key$i|value $i with : colon|h1=one,h2=two|$((i - 1))"$'\n'
done
printf 'key%d:value %d with : colon\n' 1 1 2 2 3 3 4 4 5 5 6 6 |
  rn_kcat -P -t kc-keys -p 0 -K: -H h1=one -H h2=two 2>"$RN_ROOT/p1.err"
rn_ok $? "kcat -P -K: -H into a new topic" "$(cat "$RN_ROOT/p1.err")"

md=$(rn_kcat -L -t kc-keys 2>&1)
echo "$md" | grep -q 'topic "kc-keys" with 3 partitions'
rn_ok $? "kcat -L -t shows the auto-created topic with num.partitions=3" "$md"

got=$(rn_kcat -C -t kc-keys -p 0 -o beginning -e -q -f '%k|%s|%h|%o\n' 2>&1)
rn_is "$got" "${want%$'\n'}" "kcat -C -e reads keys, values, headers and offsets back exactly"

got=$(rn_kcat -C -t kc-keys -p 0 -o 2 -c 2 -e -q -f '%o:%k\n' 2>&1)
rn_is "$got" $'2:key3\n3:key4' "kcat -C -o 2 -c 2 starts at offset 2"

got=$(rn_kcat -C -t kc-keys -p 0 -o -2 -e -q -f '%o:%k\n' 2>&1)
rn_is "$got" $'4:key5\n5:key6' "kcat -C -o -2 reads the last two records"

# Keyed records spread over the partitions; each key keeps to one.
for i in $(seq 0 59); do
  echo "k$((i % 10)):rec$i"
done | rn_kcat -P -t kc-spread -K: 2>"$RN_ROOT/p2.err"
got=$(rn_kcat -C -t kc-spread -o beginning -e -q -f '%k %p %s\n' 2>&1)
n=$(echo "$got" | grep -c ' rec')
split=$(echo "$got" | awk '{print $1, $2}' | sort -u | awk '{print $1}' | uniq -d)
parts=$(echo "$got" | awk '{print $2}' | sort -u | tr '\n' ' ')
rn_ok $([ "$n" = 60 ] && [ -z "$split" ]; echo $?) \
  "60 keyed records read back, each key in one partition (partitions used: $parts)" \
  "read $n; keys in more than one partition: $split" "$(cat "$RN_ROOT/p2.err")"

# Every codec kcat offers, read back in order.
want=""
for z in none gzip snappy lz4 zstd; do
  for i in 1 2 3; do
    want+="$z $i $(printf 'x%.0s' $(seq 1 40))"$'\n'
  done
done
for z in none gzip snappy lz4 zstd; do
  for i in 1 2 3; do
    echo "$z $i $(printf 'x%.0s' $(seq 1 40))"
  done | rn_kcat -P -t kc-codecs -p 1 -z "$z" 2>>"$RN_ROOT/p3.err"
done
got=$(rn_kcat -C -t kc-codecs -p 1 -o beginning -e -q -f '%s\n' 2>&1)
rn_is "$got" "${want%$'\n'}" "records produced with -z none/gzip/snappy/lz4/zstd read back"

# -Z: an empty value is sent as null; -K with an empty key likewise.
printf 'tomb:\nlive:here\n' | rn_kcat -P -t kc-null -p 0 -K: -Z 2>"$RN_ROOT/p4.err"
got=$(rn_kcat -C -t kc-null -p 0 -o beginning -e -q -f '%k|%S|%s\n' 2>&1)
rn_is "$got" $'tomb|-1|\nlive|4|here' "kcat -Z produces a null value (length -1)"

# A 200 KiB binary file as one record.
head -c 204800 /dev/urandom >"$RN_ROOT/blob.bin"
rn_kcat -P -t kc-bin -p 0 "$RN_ROOT/blob.bin" 2>"$RN_ROOT/p5.err"
rn_kcat -C -t kc-bin -p 0 -o beginning -c 1 -e -q -D '' -f '%s' >"$RN_ROOT/blob.out" 2>&1
cmp -s "$RN_ROOT/blob.bin" "$RN_ROOT/blob.out"
rn_ok $? "a 200 KiB binary record reads back byte for byte" \
  "read $(wc -c <"$RN_ROOT/blob.out") bytes" "$(cat "$RN_ROOT/p5.err")" \
  "$(od -c "$RN_ROOT/blob.out" | head -n 3)"

rn_broker_stop
rn_is "$RN_STOP_STATUS" 0 "broker exits 0 on SIGTERM"

rn_done
