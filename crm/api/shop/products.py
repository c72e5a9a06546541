"""API resources for products: list and get (they arrive from connected shops)."""
from __future__ import annotations

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import api_operation, request_query
from crm.api.shop.schemas import ProductListQuery, ProductOut, ProductPage
from crm.auth.policy import requires
from crm.extensions import db
from crm.shop import services
from crm.shop.models import Product

TAG = "Products"


@api_operation("GET", "/shop/products", query=ProductListQuery, response=ProductPage, tag=TAG,
               summary="List products")
@requires("shop.product.view", api=True)
def list_shop_products():
    """Products with their variants, newest first (keyset pages); ``q`` an exact SKU or
    text in the title, ``tag`` one tag."""
    query: ProductListQuery = request_query()
    rows, next_cursor = page_by_id(services.products_query(query.q, query.tag), Product.id,
                                   query.limit, query.cursor)
    return page_answer(ProductPage, rows, query.limit, next_cursor)


@api_operation("GET", "/shop/products/{product_id}", response=ProductOut, tag=TAG,
               summary="Get a product")
@requires("shop.product.view", api=True)
def get_shop_product(product_id: int):
    """One product with its variants."""
    product = db.session.scalar(select(Product).where(Product.id == product_id)
                                .options(selectinload(Product.variants)))
    if product is None:
        abort(404)
    return answer(ProductOut, product)
