"""shops: shop customers and their notes, orders, fulfilments and their delivery events,
products and variants, shop connections, webhook deliveries, external ids per shop, the shop
audit trail

Revision ID: 0008_shop_core
Revises: 0007_merge_2026_12_03
Create Date: 2026-12-03 16:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_shop_core"
down_revision = "0007_merge_2026_12_03"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "shop_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("vendor", sa.String(length=120), nullable=True),
        sa.Column("product_type", sa.String(length=120), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shop_products_title", "shop_products", ["title", "id"])
    op.create_table(
        "shop_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("before", sa.String(length=255), nullable=True),
        sa.Column("after", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_shop_changes_entity", "shop_changes", ["entity", "entity_id", "created_at", "id"]
    )
    op.create_table(
        "shop_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "shop_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=120), nullable=False),
        sa.Column("last_name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("lifetime_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("accepts_marketing", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shop_customers_email", "shop_customers", ["email"])
    op.create_index("ix_shop_customers_marketing", "shop_customers", ["accepts_marketing", "id"])
    op.create_index("ix_shop_customers_name", "shop_customers", ["last_name", "first_name", "id"])
    op.create_index("ix_shop_customers_phone", "shop_customers", ["phone"])
    op.create_index("ix_shop_customers_user", "shop_customers", ["user_id"])
    op.create_table(
        "shop_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["shop_customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shop_notes_customer", "shop_notes", ["customer_id", "created_at", "id"])
    op.create_table(
        "shop_product_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=120), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("inventory_quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["shop_products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_shop_product_variants_product", "shop_product_variants", ["product_id", "id"]
    )
    op.create_index("ix_shop_product_variants_sku", "shop_product_variants", ["sku"])
    op.create_table(
        "shop_external_ids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["shop_connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "kind", "external_id", name="uq_shop_external_ids"),
    )
    op.create_index("ix_shop_external_ids_local", "shop_external_ids", ["kind", "local_id"])
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("financial_status", sa.String(length=24), nullable=False),
        sa.Column("fulfilment_status", sa.String(length=16), nullable=False),
        sa.Column("delivery_state", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_discounts", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_tax", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_codes", sa.JSON(), nullable=False),
        sa.Column("line_items", sa.JSON(), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["shop_customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shop_orders_customer", "shop_orders", ["customer_id", "id"])
    op.create_index("ix_shop_orders_delivery", "shop_orders", ["delivery_state", "id"])
    op.create_index("ix_shop_orders_email", "shop_orders", ["email"])
    op.create_index("ix_shop_orders_financial", "shop_orders", ["financial_status", "id"])
    op.create_index("ix_shop_orders_fulfilment", "shop_orders", ["fulfilment_status", "id"])
    op.create_index("ix_shop_orders_name", "shop_orders", ["name"])
    op.create_index("ix_shop_orders_status", "shop_orders", ["status", "id"])
    op.create_table(
        "shop_webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(length=100), nullable=True),
        sa.Column("claimed_id", sa.String(length=100), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["shop_connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "webhook_id", name="uq_shop_webhook_deliveries"),
    )
    op.create_index(
        "ix_shop_webhook_deliveries_received",
        "shop_webhook_deliveries",
        ["connection_id", "received_at", "id"],
    )
    op.create_table(
        "shop_fulfilments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=120), nullable=True),
        sa.Column("tracking_number", sa.String(length=120), nullable=True),
        sa.Column("tracking_url", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivery_state", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["shop_orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shop_fulfilments_order", "shop_fulfilments", ["order_id", "id"])
    op.create_index("ix_shop_fulfilments_tracking", "shop_fulfilments", ["tracking_number"])
    op.create_table(
        "shop_fulfilment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fulfilment_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["fulfilment_id"], ["shop_fulfilments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_shop_fulfilment_events_timeline",
        "shop_fulfilment_events",
        ["fulfilment_id", "happened_at", "id"],
    )


def downgrade():
    op.drop_table("shop_fulfilment_events")
    op.drop_table("shop_fulfilments")
    op.drop_table("shop_webhook_deliveries")
    op.drop_table("shop_orders")
    op.drop_table("shop_external_ids")
    op.drop_table("shop_product_variants")
    op.drop_table("shop_notes")
    op.drop_table("shop_customers")
    op.drop_table("shop_connections")
    op.drop_table("shop_changes")
    op.drop_table("shop_products")
