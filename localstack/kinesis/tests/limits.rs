//! The limits against AWS's documented numbers, on a paused clock: the service is called
//! directly (no HTTP), so tokio's clock alone decides when a second has passed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use local_kinesis::hash::{hash_key_of, uniform};
use local_kinesis::{ErrorCode, Kinesis, Options, ShardLimits};
use serde_json::{Value, json};

const REGION: &str = "us-east-2";

fn service(limits: ShardLimits) -> Kinesis {
    Kinesis::new(Options {
        limits,
        ..Options::default()
    })
}

async fn call(k: &Kinesis, op: &str, body: Value) -> Result<Value, local_kinesis::ApiError> {
    k.call(REGION, op, body.to_string().as_bytes()).await
}

async fn ok(k: &Kinesis, op: &str, body: Value) -> Value {
    call(k, op, body)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn create(k: &Kinesis, name: &str, shards: u32) {
    ok(
        k,
        "CreateStream",
        json!({"StreamName": name, "ShardCount": shards}),
    )
    .await;
}

/// A partition key that hashes into `shard` of `count` uniform shards.
fn key_for_shard(shard: usize, count: u32, salt: &str) -> String {
    let ranges = uniform(count);
    (0..)
        .map(|i| format!("{salt}-{i}"))
        .find(|k| ranges[shard].contains(hash_key_of(k)))
        .expect("some key hashes there")
}

fn records(keys: &[String], data_bytes: usize) -> Value {
    let data = STANDARD.encode(vec![b'x'; data_bytes]);
    json!(
        keys.iter()
            .map(|k| json!({"Data": data, "PartitionKey": k}))
            .collect::<Vec<_>>()
    )
}

/// `PutRecords` of `records`: how many were taken and how many refused.
async fn put_many(k: &Kinesis, stream: &str, records: Value) -> (usize, usize) {
    let answer = ok(
        k,
        "PutRecords",
        json!({"StreamName": stream, "Records": records}),
    )
    .await;
    outcome(&answer)
}

fn outcome(answer: &Value) -> (usize, usize) {
    let entries = answer["Records"].as_array().expect("records");
    let failed = entries
        .iter()
        .filter(|e| e.get("ErrorCode").is_some())
        .count();
    (entries.len() - failed, failed)
}

#[tokio::test(start_paused = true)]
async fn a_shard_takes_1000_records_a_second_and_refuses_the_rest_inside_put_records() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 2).await;
    let key = key_for_shard(0, 2, "a");
    let batch = records(&vec![key.clone(); 500], 10);
    for _ in 0..2 {
        let answer = ok(
            &k,
            "PutRecords",
            json!({"StreamName": "s", "Records": batch}),
        )
        .await;
        assert_eq!(outcome(&answer), (500, 0));
    }
    let answer = ok(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": batch}),
    )
    .await;
    assert_eq!(outcome(&answer), (0, 500), "the second's 1,000 are used");
    assert_eq!(answer["FailedRecordCount"], 500);
    let refused = &answer["Records"][0];
    assert_eq!(
        refused["ErrorCode"],
        "ProvisionedThroughputExceededException"
    );
    assert_eq!(
        refused["ErrorMessage"],
        "Rate exceeded for shard shardId-000000000000 in stream s under account 123456789012."
    );
    // The other shard has its own limit.
    let other = records(&vec![key_for_shard(1, 2, "b"); 500], 10);
    assert_eq!(put_many(&k, "s", other).await, (500, 0));
    // Half a second later, half a second's worth.
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(put_many(&k, "s", batch).await, (500, 0));
    assert_eq!(
        put_many(&k, "s", records(std::slice::from_ref(&key), 10)).await,
        (0, 1)
    );
    // A PutRecord over the limit fails as a whole.
    let error = call(
        &k,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": key, "Data": "eA=="}),
    )
    .await
    .expect_err("throttled");
    assert_eq!(error.code, ErrorCode::ProvisionedThroughputExceeded);
}

#[tokio::test(start_paused = true)]
async fn a_shard_takes_1_mib_a_second_counting_partition_keys() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 1).await;
    // 4 records of 256 KiB - 1 byte of data with a 1-byte key: exactly 1 MiB.
    let key = "k".to_owned();
    let batch = records(&vec![key.clone(); 4], 256 * 1024 - 1);
    assert_eq!(put_many(&k, "s", batch).await, (4, 0));
    assert_eq!(
        put_many(&k, "s", records(std::slice::from_ref(&key), 1)).await,
        (0, 1),
        "the mebibyte is used"
    );
    tokio::time::advance(Duration::from_millis(250)).await;
    // A quarter second: 256 KiB back; a record of 256 KiB + key does not fit, a smaller one does.
    let big = records(std::slice::from_ref(&key), 256 * 1024);
    assert_eq!(put_many(&k, "s", big).await, (0, 1));
    assert_eq!(put_many(&k, "s", records(&[key], 1000)).await, (1, 0));
}

#[tokio::test(start_paused = true)]
async fn put_records_limits_are_validated_before_anything_is_stored() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 1).await;
    let too_many = records(&vec!["k".to_owned(); 501], 1);
    let error = call(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": too_many}),
    )
    .await
    .expect_err("501 records");
    assert_eq!(error.code, ErrorCode::Validation);
    let too_big = records(&vec!["k".to_owned(); 6], 1024 * 1024 - 1);
    let error = call(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": too_big}),
    )
    .await
    .expect_err("over 5 MiB");
    assert_eq!(error.code, ErrorCode::InvalidArgument);
    let record_too_big = records(&["k".to_owned()], 1024 * 1024);
    let error = call(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": record_too_big}),
    )
    .await
    .expect_err("over 1 MiB with its key");
    assert_eq!(error.code, ErrorCode::Validation);
    let error = call(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": records(&[String::new()], 1)}),
    )
    .await
    .expect_err("empty key");
    assert!(error.message.contains("partitionKey"), "{}", error.message);
    let error = call(
        &k,
        "PutRecords",
        json!({"StreamName": "nope", "Records": records(&["k".to_owned()], 1)}),
    )
    .await
    .expect_err("no stream");
    assert_eq!(error.code, ErrorCode::ResourceNotFound);
    assert_eq!(
        error.message,
        "Stream nope under account 123456789012 not found."
    );
}

#[tokio::test(start_paused = true)]
async fn records_go_to_the_shard_holding_the_md5_of_their_key_or_their_explicit_hash_key() {
    let k = service(ShardLimits::UNLIMITED);
    create(&k, "s", 4).await;
    let ranges = uniform(4);
    for i in 0..200 {
        let key = format!("session-{i}");
        let answer = ok(
            &k,
            "PutRecord",
            json!({"StreamName": "s", "PartitionKey": key, "Data": "eA=="}),
        )
        .await;
        let expected = ranges
            .iter()
            .position(|r| r.contains(hash_key_of(&key)))
            .expect("a range");
        assert_eq!(
            answer["ShardId"],
            format!("shardId-{expected:012}"),
            "{key}"
        );
        assert_eq!(answer["SequenceNumber"].as_str().map(str::len), Some(56));
    }
    let last = ranges[3].start.to_string();
    let answer = ok(
        &k,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "any", "ExplicitHashKey": last, "Data": "eA=="}),
    )
    .await;
    assert_eq!(answer["ShardId"], "shardId-000000000003");
    let error = call(&k, "PutRecord", json!({"StreamName": "s", "PartitionKey": "any", "ExplicitHashKey": "340282366920938463463374607431768211456", "Data": "eA=="}))
        .await
        .expect_err("2^128");
    assert_eq!(error.code, ErrorCode::InvalidArgument);
}

async fn iterator(k: &Kinesis, stream: &str, shard: &str, kind: &str) -> String {
    let answer = ok(
        k,
        "GetShardIterator",
        json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind}),
    )
    .await;
    answer["ShardIterator"]
        .as_str()
        .expect("iterator")
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_shard_answers_5_get_records_a_second_shared_by_its_readers() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 1).await;
    let first = iterator(&k, "s", "shardId-000000000000", "TRIM_HORIZON").await;
    let second = iterator(&k, "s", "shardId-000000000000", "LATEST").await;
    for i in 0..5 {
        let it = if i % 2 == 0 { &first } else { &second };
        let answer = ok(&k, "GetRecords", json!({"ShardIterator": it})).await;
        assert_eq!(answer["MillisBehindLatest"], 0);
    }
    let error = call(&k, "GetRecords", json!({"ShardIterator": first}))
        .await
        .expect_err("sixth call in the second");
    assert_eq!(error.code, ErrorCode::ProvisionedThroughputExceeded);
    assert!(
        error
            .message
            .starts_with("Rate exceeded for Shard - shardId-000000000000"),
        "{}",
        error.message
    );
    tokio::time::advance(Duration::from_millis(200)).await;
    ok(&k, "GetRecords", json!({"ShardIterator": first})).await;
}

#[tokio::test(start_paused = true)]
async fn a_shard_reads_2_mib_a_second_and_a_big_read_blocks_the_next_ones() {
    let k = service(ShardLimits {
        write_records_per_second: f64::INFINITY,
        write_bytes_per_second: f64::INFINITY,
        ..ShardLimits::AWS
    });
    create(&k, "s", 1).await;
    // 8 MiB in the shard: 16 records of 512 KiB.
    for _ in 0..4 {
        let batch = records(&vec!["k".to_owned(); 4], 512 * 1024 - 1);
        ok(
            &k,
            "PutRecords",
            json!({"StreamName": "s", "Records": batch}),
        )
        .await;
    }
    let it = iterator(&k, "s", "shardId-000000000000", "TRIM_HORIZON").await;
    let answer = ok(&k, "GetRecords", json!({"ShardIterator": it})).await;
    assert_eq!(
        answer["Records"].as_array().map(Vec::len),
        Some(16),
        "one call takes up to 10 MiB"
    );
    let next = answer["NextShardIterator"]
        .as_str()
        .expect("open shard")
        .to_owned();
    // 8 MiB read against 2 MiB held: 6 MiB of debt, 3 s to repay.
    tokio::time::advance(Duration::from_millis(2_900)).await;
    let error = call(&k, "GetRecords", json!({"ShardIterator": next}))
        .await
        .expect_err("in debt");
    assert_eq!(error.code, ErrorCode::ProvisionedThroughputExceeded);
    tokio::time::advance(Duration::from_millis(200)).await;
    ok(&k, "GetRecords", json!({"ShardIterator": next})).await;
}

#[tokio::test(start_paused = true)]
async fn millis_behind_latest_says_how_far_the_reader_is_from_the_tip() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 1).await;
    ok(
        &k,
        "PutRecords",
        json!({"StreamName": "s", "Records": records(&vec!["k".to_owned(); 3], 10)}),
    )
    .await;
    tokio::time::advance(Duration::from_secs(2)).await;
    let it = iterator(&k, "s", "shardId-000000000000", "TRIM_HORIZON").await;
    let answer = ok(&k, "GetRecords", json!({"ShardIterator": it, "Limit": 1})).await;
    assert_eq!(answer["MillisBehindLatest"], 2000);
    let next = answer["NextShardIterator"]
        .as_str()
        .expect("open")
        .to_owned();
    let answer = ok(&k, "GetRecords", json!({"ShardIterator": next})).await;
    assert_eq!(answer["Records"].as_array().map(Vec::len), Some(2));
    assert_eq!(answer["MillisBehindLatest"], 0);
}

#[tokio::test(start_paused = true)]
async fn iterators_expire_after_five_minutes() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 1).await;
    let it = iterator(&k, "s", "shardId-000000000000", "LATEST").await;
    tokio::time::advance(Duration::from_secs(301)).await;
    let error = call(&k, "GetRecords", json!({"ShardIterator": it}))
        .await
        .expect_err("expired");
    assert_eq!(error.code, ErrorCode::ExpiredIterator);
}

#[tokio::test(start_paused = true)]
async fn after_resharding_writes_go_to_the_children_and_readers_of_a_parent_find_them() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 2).await;
    let parent_key = key_for_shard(0, 2, "p");
    let put = |key: String| {
        let k = &k;
        async move {
            ok(
                k,
                "PutRecord",
                json!({"StreamName": "s", "PartitionKey": key, "Data": "eA=="}),
            )
            .await
        }
    };
    let before = put(parent_key.clone()).await;
    assert_eq!(before["ShardId"], "shardId-000000000000");
    let reader = iterator(&k, "s", "shardId-000000000000", "TRIM_HORIZON").await;
    let answer = ok(
        &k,
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}),
    )
    .await;
    assert_eq!(answer["CurrentShardCount"], 2);
    assert_eq!(answer["TargetShardCount"], 4);
    // The new writes land on open children, whose limits are their own.
    let after = put(parent_key.clone()).await;
    let child = after["ShardId"].as_str().expect("a shard").to_owned();
    assert!(
        ["shardId-000000000002", "shardId-000000000003"].contains(&child.as_str()),
        "{child}"
    );
    assert!(
        after["SequenceNumber"].as_str() > before["SequenceNumber"].as_str(),
        "a child's numbers follow its parent's"
    );
    let summary = ok(&k, "DescribeStreamSummary", json!({"StreamName": "s"})).await;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 4);
    let shards = ok(&k, "ListShards", json!({"StreamName": "s"})).await;
    let listed = shards["Shards"].as_array().expect("shards");
    assert_eq!(listed.len(), 6);
    assert!(
        listed[0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string(),
        "the parent is closed"
    );
    assert_eq!(listed[2]["ParentShardId"], "shardId-000000000000");
    // The parent's reader reads what it held, then learns its children; no iterator follows.
    let answer = ok(&k, "GetRecords", json!({"ShardIterator": reader})).await;
    assert_eq!(answer["Records"].as_array().map(Vec::len), Some(1));
    assert!(answer.get("NextShardIterator").is_none(), "{answer}");
    let children: Vec<&str> = answer["ChildShards"]
        .as_array()
        .expect("child shards")
        .iter()
        .filter_map(|c| c["ShardId"].as_str())
        .collect();
    assert_eq!(children, ["shardId-000000000002", "shardId-000000000003"]);
    assert_eq!(
        answer["ChildShards"][0]["ParentShards"],
        json!(["shardId-000000000000"])
    );
    // The child's reader finds the record written after the resharding.
    let child_reader = iterator(&k, "s", &child, "TRIM_HORIZON").await;
    let answer = ok(&k, "GetRecords", json!({"ShardIterator": child_reader})).await;
    assert_eq!(
        answer["Records"][0]["SequenceNumber"],
        after["SequenceNumber"]
    );
    let open = ok(
        &k,
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_LATEST"}}),
    )
    .await;
    assert_eq!(open["Shards"].as_array().map(Vec::len), Some(4));
}

#[tokio::test(start_paused = true)]
async fn update_shard_count_keeps_to_aws_bounds() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 2).await;
    let scale = |target: i64| {
        let k = &k;
        async move {
            call(k, "UpdateShardCount", json!({"StreamName": "s", "TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"})).await
        }
    };
    assert_eq!(
        scale(5).await.map_err(|e| e.code).err(),
        Some(ErrorCode::InvalidArgument),
        "more than double"
    );
    scale(3).await.expect("2 -> 3");
    assert_eq!(
        scale(1).await.map_err(|e| e.code).err(),
        Some(ErrorCode::InvalidArgument),
        "below half"
    );
    for target in [2, 3, 2, 3, 2, 3, 2, 3, 2] {
        scale(target).await.expect("within bounds");
    }
    assert_eq!(
        scale(3).await.map_err(|e| e.code).err(),
        Some(ErrorCode::LimitExceeded),
        "the 11th in a day"
    );
    tokio::time::advance(Duration::from_secs(86_401)).await;
    scale(3).await.expect("a day later");
}

#[tokio::test(start_paused = true)]
async fn sequence_numbers_of_another_shard_are_refused_as_aws_refuses_them() {
    let k = service(ShardLimits::AWS);
    create(&k, "s", 2).await;
    let put = ok(
        &k,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": key_for_shard(1, 2, "x"), "Data": "eA=="}),
    )
    .await;
    let number = put["SequenceNumber"].as_str().expect("number");
    let error = call(&k, "GetShardIterator", json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": number}))
        .await
        .expect_err("another shard's");
    assert_eq!(
        error.message,
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard with shardId-000000000000"
    );
    let at = ok(&k, "GetShardIterator", json!({"StreamName": "s", "ShardId": "shardId-000000000001", "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": number})).await;
    let answer = ok(
        &k,
        "GetRecords",
        json!({"ShardIterator": at["ShardIterator"]}),
    )
    .await;
    assert_eq!(answer["Records"][0]["SequenceNumber"], number);
}

#[tokio::test(start_paused = true)]
async fn on_demand_streams_have_four_shards_and_aws_initial_write_capacity() {
    let k = service(ShardLimits::AWS);
    ok(
        &k,
        "CreateStream",
        json!({"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    )
    .await;
    let summary = ok(&k, "DescribeStreamSummary", json!({"StreamName": "od"})).await;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 4);
    assert_eq!(
        summary["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"],
        "ON_DEMAND"
    );
    // 4,000 records a second over well-spread keys, no more.
    let mut accepted = 0;
    for batch in 0..10 {
        let keys: Vec<String> = (0..500).map(|i| format!("user-{batch}-{i}")).collect();
        let answer = ok(
            &k,
            "PutRecords",
            json!({"StreamName": "od", "Records": records(&keys, 10)}),
        )
        .await;
        accepted += outcome(&answer).0;
    }
    assert!(
        (3_500..=4_000).contains(&accepted),
        "{accepted} of 5,000 in one second"
    );
    let error = call(
        &k,
        "UpdateShardCount",
        json!({"StreamName": "od", "TargetShardCount": 8, "ScalingType": "UNIFORM_SCALING"}),
    )
    .await
    .expect_err("on-demand");
    assert_eq!(error.code, ErrorCode::Validation);
}

#[tokio::test(start_paused = true)]
async fn concurrent_writers_lose_nothing_and_never_share_a_sequence_number() {
    let k = std::sync::Arc::new(service(ShardLimits::UNLIMITED));
    create(&k, "s", 2).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let k = k.clone();
            tokio::spawn(async move {
                let mut numbers = Vec::new();
                for b in 0..10 {
                    let keys: Vec<String> = (0..500).map(|i| format!("w{w}-{b}-{i}")).collect();
                    let answer = ok(
                        &k,
                        "PutRecords",
                        json!({"StreamName": "s", "Records": records(&keys, 20)}),
                    )
                    .await;
                    for r in answer["Records"].as_array().expect("records") {
                        numbers.push((
                            r["ShardId"].as_str().unwrap_or("").to_owned(),
                            r["SequenceNumber"].as_str().unwrap_or("").to_owned(),
                        ));
                    }
                }
                numbers
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.expect("writer"));
    }
    assert_eq!(all.len(), 40_000);
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), 40_000, "a sequence number given twice");
    let mut read = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let mut it = iterator(&k, "s", shard, "TRIM_HORIZON").await;
        loop {
            let answer = ok(&k, "GetRecords", json!({"ShardIterator": it})).await;
            let n = answer["Records"].as_array().map_or(0, Vec::len);
            read += n;
            if n == 0 {
                break;
            }
            it = answer["NextShardIterator"]
                .as_str()
                .expect("open")
                .to_owned();
        }
    }
    assert_eq!(read, 40_000);
}
