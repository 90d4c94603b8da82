"""Airflow DAG: the labelloop nightly cycle as one task that runs ``labelloop cycle`` and branches on its exit code.

Copy into the Airflow ``dags/`` folder; set the Airflow Variables ``labelloop_config`` (project config path) and,
optionally, ``labelloop_bin`` (default: ``labelloop`` on the worker's PATH). Exit codes (README, "Exit codes"):

* 0 done → success; 10 nothing new → the task is marked *skipped* (``skip_on_exit_code``), not failed;
* 7 Label Studio / Ray unreachable, 9 another cycle holds the lock, 4 store unavailable → failed, retried (the next
  run resumes from the last finished step);
* 8 a quality gate blocked training, 2 bad config → failed; retries repeat the same answer until a person acts.

The cycle's JSON summary goes to the task log (``--json``) and to ``{{ var.value.labelloop_log_dir }}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

NOTHING_TO_DO = 10

CYCLE_COMMAND = (
    "{{ var.value.get('labelloop_bin', 'labelloop') }} cycle "
    "-c {{ var.value.labelloop_config }} --json "
    "--summary-file {{ var.value.get('labelloop_log_dir', '/tmp') }}/labelloop-cycle-{{ ds }}.json"
)

with DAG(
    dag_id="labelloop_nightly_cycle",
    description="labelloop: ingest, pull, quality gates, retrain, promote, pre-label, select, push",
    schedule="30 2 * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,  # the cycle lock would refuse a second one anyway (exit 9)
    default_args={"retries": 3, "retry_delay": timedelta(minutes=15)},
    tags=["labelloop"],
) as dag:
    cycle = BashOperator(
        task_id="labelloop_cycle",
        bash_command=CYCLE_COMMAND,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        append_env=True,
        skip_on_exit_code=[NOTHING_TO_DO],
        execution_timeout=timedelta(hours=4),
    )
