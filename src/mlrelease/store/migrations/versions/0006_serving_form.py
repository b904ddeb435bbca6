"""model_versions.serving_form: a reference to a version's linear form, if it has one

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions registered before this have no form: an empty object, served as before.
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("serving_form", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("serving_form")
