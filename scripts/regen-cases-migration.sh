#!/bin/sh
# Regenerate migration 0002 (cases and notifications) from the models, against a scratch
# database at 0001. Used while 0002 is being written; once it has shipped, add a new revision.
set -eu
cd "$(dirname "$0")/.."
rm -f scratch-0002.db src/cityos/migrations/versions/0002_cases.py
.venv/bin/python - <<'PY'
from alembic import command
from cityos.db import alembic_config, make_engine, upgrade
engine = make_engine("sqlite:///scratch-0002.db")
upgrade(engine, "0001")
command.revision(
    alembic_config(engine), message="cases and notifications", autogenerate=True,
    rev_id="0002",
)
PY
rm -f scratch-0002.db scratch-0002.db-wal scratch-0002.db-shm
mv src/cityos/migrations/versions/0002_cases_and_notifications.py \
   src/cityos/migrations/versions/0002_cases.py
sed -i 's/^from alembic import op$/from alembic import op\n\nimport cityos.db/' src/cityos/migrations/versions/0002_cases.py
.venv/bin/ruff format -q src/cityos/migrations/versions/0002_cases.py
.venv/bin/ruff check -q --fix src/cityos/migrations/versions/0002_cases.py
