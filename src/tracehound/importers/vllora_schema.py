"""vLLora's `traces` table as its migrations create it (reference §1.2 and §1.3), restated.

The importer reads these columns; the tests and the benchmarks build vLLora files from the
same statements, so that every vLLora file tracehound is tested against has vLLora's shape.
"""

from __future__ import annotations

# In table order; the importer selects them by name, so extra columns in a later vLLora do no harm.
COLUMNS = (
    "trace_id",
    "span_id",
    "thread_id",
    "parent_span_id",
    "operation_name",
    "start_time_us",
    "finish_time_us",
    "attribute",
    "run_id",
    "project_id",
)

TABLE = """
CREATE TABLE traces (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    thread_id TEXT,
    parent_span_id TEXT,
    operation_name TEXT NOT NULL,
    start_time_us BIGINT NOT NULL,
    finish_time_us BIGINT NOT NULL,
    attribute TEXT NOT NULL,
    run_id TEXT,
    project_id TEXT,
    PRIMARY KEY (trace_id, span_id)
);
"""

# The init migration's indexes, then those of the add_indexes and add_label_index migrations.
INDEXES = """
CREATE INDEX idx_traces_trace_id ON traces (trace_id);
CREATE INDEX idx_traces_run_id ON traces (run_id);
CREATE INDEX idx_traces_project_id ON traces (project_id);
CREATE INDEX idx_traces_start_time_us ON traces (start_time_us);
CREATE INDEX idx_traces_finish_time_us ON traces (finish_time_us);
CREATE INDEX idx_traces_parent_span_id ON traces (parent_span_id);
CREATE INDEX idx_traces_child_lookup ON traces (trace_id, parent_span_id, operation_name, start_time_us);
CREATE INDEX idx_traces_title_first ON traces (project_id, thread_id, start_time_us)
    WHERE json_extract(attribute, '$.title') IS NOT NULL;
CREATE INDEX idx_traces_project_thread
    ON traces (project_id, thread_id, parent_span_id, start_time_us, finish_time_us);
CREATE INDEX idx_traces_label ON traces (project_id, json_extract(attribute, '$.label'))
    WHERE json_extract(attribute, '$.label') IS NOT NULL;
"""

INSERT = f"INSERT INTO traces ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
