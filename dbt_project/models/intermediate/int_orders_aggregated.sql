-- Order lines summed to SKU x marketplace x day (the grain of the demand facts).
with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

final as (
    select
        sku,
        marketplace,
        order_date,
        any_value(currency) as currency,
        cast(sum(quantity) as bigint) as units,
        count(*) as order_lines,
        sum(quantity * unit_price) as revenue_local,
        max(ingested_at) as last_ingested_at
    from orders
    group by sku, marketplace, order_date
)

select * from final
