"""The daily ETL as an Airflow 2.x DAG: batch ETL, then data quality, then the MERGE job.

Copy this file into the DAGs folder of a deployment whose workers have the `sluice` binary
and the repository's config/ (or change `sluice` and `config_dir` below, per run in the
trigger form, or with Airflow Variables in the templates). Each task is one `sluice run`
through BashOperator, so the DAG needs no provider package; on Kubernetes the same commands
can run in the image with KubernetesPodOperator.

  batch_etl     config/batch-etl.yaml for {{ ds }} (the run's logical date): that day's
                sales, enriched and aggregated. Idempotent per date: the job id carries the
                date, so a retry or a backfill commits nothing twice.
  data_quality  config/data-quality.yaml over the streaming job's bronze table (its rules
                are about user events): the quality report, and a non-zero exit (a failed
                task) when a rule's max-ratio is breached. The job id and the output folder
                carry the date, so each day gets its own bounded run and report (a
                finished job id does nothing again).
  delta_merge   config/delta-merge.yaml over the day's change files, <changes>/{{ ds }}/,
                MERGEd into `customers`; the epoch's Delta txn rides in the MERGE commit, and
                the job id carries the date, so a retry merges nothing twice.

scripts/check-airflow-dag loads this file with Airflow's DagBag and checks the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jinja2
from airflow import DAG

try:  # Airflow 2.x
    from airflow.operators.bash import BashOperator
except ImportError:  # Airflow 3 moved it to the standard provider
    from airflow.providers.standard.operators.bash import BashOperator

DAG_ID = "sluice_daily_etl"

# Defaults for every run; the trigger form can override them (params).
PARAMS = {
    "sluice": "sluice",  # the binary
    "config_dir": "/opt/sluice/config",  # the repository's config/
    "batch_data": "s3://your-bucket/sluice/batch-data",  # sales/, customers/, products/
    "batch_out": "s3://your-bucket/sluice/batch-etl",
    "events_bronze": "s3://your-bucket/sluice/kafka-user-events/tables/bronze",
    "quality_out": "s3://your-bucket/sluice/data-quality",
    "changes": "s3://your-bucket/sluice/customer-changes",  # <changes>/<ds>/*.jsonl
    "merge_out": "s3://your-bucket/sluice/delta-merge",
}

RUN = "{{ params.sluice }} run {{ params.config_dir }}"

with DAG(
    dag_id=DAG_ID,
    description="sluice daily ETL: batch ETL, data quality, Delta MERGE",
    schedule="30 2 * * *",  # after midnight UTC, for the day before ({{ ds }})
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,  # the MERGE job of one day before the next day's
    params=PARAMS,
    # A misspelt template variable fails the task instead of rendering as "".
    template_undefined=jinja2.StrictUndefined,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=4),
    },
    tags=["sluice"],
) as dag:
    batch_etl = BashOperator(
        task_id="batch_etl",
        bash_command=(
            f"{RUN}/batch-etl.yaml --batch"
            " --param process-date={{ ds }}"
            " --param data={{ params.batch_data }}"
            " --param out={{ params.batch_out }}"
        ),
    )
    data_quality = BashOperator(
        task_id="data_quality",
        bash_command=(
            f"{RUN}/data-quality.yaml --batch"
            " --set job-id=data-quality-{{ ds }}"
            " --set source.delta.path={{ params.events_bronze }}"
            # A day's report in a folder of its own: each run reads the whole table.
            " --set output.dir={{ params.quality_out }}/{{ ds }}"
        ),
    )
    delta_merge = BashOperator(
        task_id="delta_merge",
        bash_command=(
            # No --batch: a files source is bounded anyway, one change file per epoch.
            f"{RUN}/delta-merge.yaml"
            " --set job-id=delta-merge-{{ ds }}"
            " --set source.files.path={{ params.changes }}/{{ ds }}"
            " --set output.dir={{ params.merge_out }}"
        ),
    )

    batch_etl >> data_quality >> delta_merge
