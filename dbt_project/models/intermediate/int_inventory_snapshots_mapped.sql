-- End-of-day stock per marketplace and SKU: snapshots of each marketplace's market warehouse(s),
-- summed when a marketplace has several.
with inventory as (
    select * from {{ ref('stg_raw__inventory') }}
),

warehouses as (
    select * from {{ ref('stg_raw__warehouses') }}
    where warehouse_type = 'market' and marketplace is not null
),

final as (
    select
        warehouses.marketplace,
        inventory.sku,
        inventory.snapshot_date,
        cast(sum(inventory.on_hand) as bigint) as on_hand
    from inventory
    inner join warehouses on inventory.warehouse_id = warehouses.warehouse_id
    group by warehouses.marketplace, inventory.sku, inventory.snapshot_date
)

select * from final
