"""S3 helpers for the end-to-end tests, with boto3 against the S3 API at $SLUICE_S3_ENDPOINT.

    s3_tool.py mkbucket NAME            create a bucket (ok if it exists)
    s3_tool.py download BUCKET PREFIX DEST
                                        copy every object under PREFIX to DEST/<rest of key>

Downloading lets DuckDB's delta extension read what sluice wrote to S3 from local files:
the reader stays independent of sluice, and DuckDB needs no S3 extension offline.
"""

import os
import sys

import boto3


def client():
    endpoint = os.environ.get("SLUICE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        sys.exit("SLUICE_S3_ENDPOINT is not set: start the S3 service (scripts/test does)")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def mkbucket(name: str) -> None:
    s3 = client()
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    print(f"bucket {name} ready")


def download(bucket: str, prefix: str, dest: str) -> None:
    s3 = client()
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rest = obj["Key"][len(prefix):].lstrip("/")
            path = os.path.join(dest, rest)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, obj["Key"], path)
            n += 1
    if n == 0:
        sys.exit(f"nothing under s3://{bucket}/{prefix}")
    print(f"downloaded {n} objects to {dest}")


def main(argv):
    if argv[:1] == ["mkbucket"] and len(argv) == 2:
        mkbucket(argv[1])
    elif argv[:1] == ["download"] and len(argv) == 4:
        download(argv[1], argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
