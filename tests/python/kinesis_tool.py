"""Kinesis helpers for the end-to-end tests, with boto3 against $SLUICE_KINESIS_ENDPOINT.

    kinesis_tool.py create STREAM SHARDS    create a stream and wait until it is active
    kinesis_tool.py split STREAM            split the first open shard at its middle hash key
                                            and wait until the stream is active again
    kinesis_tool.py shards STREAM           print the shards with their parents
"""

import os
import sys
import time

import boto3


def client():
    endpoint = os.environ.get("SLUICE_KINESIS_ENDPOINT")
    if not endpoint:
        sys.exit("SLUICE_KINESIS_ENDPOINT is not set: start kinesalite (scripts/test does)")
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def wait_active(k, stream):
    for _ in range(200):
        if k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    sys.exit(f"stream {stream} did not become active")


def shards(k, stream):
    return k.list_shards(StreamName=stream)["Shards"]


def main(argv):
    k = client()
    if argv[:1] == ["create"] and len(argv) == 3:
        k.create_stream(StreamName=argv[1], ShardCount=int(argv[2]))
        wait_active(k, argv[1])
        print(f"stream {argv[1]} active with {argv[2]} shards")
    elif argv[:1] == ["split"] and len(argv) == 2:
        open_shards = [s for s in shards(k, argv[1]) if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        s = open_shards[0]
        lo = int(s["HashKeyRange"]["StartingHashKey"])
        hi = int(s["HashKeyRange"]["EndingHashKey"])
        k.split_shard(StreamName=argv[1], ShardToSplit=s["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
        wait_active(k, argv[1])
        print(f"split {s['ShardId']} of {argv[1]}")
    elif argv[:1] == ["shards"] and len(argv) == 2:
        for s in shards(k, argv[1]):
            print(s["ShardId"], s.get("ParentShardId", "-"), "closed" if "EndingSequenceNumber" in s["SequenceNumberRange"] else "open")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
