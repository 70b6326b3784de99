-- One row per seller allocation rule; an empty sku or warehouse_id means "every" (the scope),
-- an empty setting inherits from the broader scope (ml/allocation/rules.py).
with source as (
    select * from {{ source('raw', 'allocation_rules') }}
),

renamed as (
    select
        cast(sku as varchar) as sku,
        cast(warehouse_id as varchar) as warehouse_id,
        cast(min_units as bigint) as min_units,
        cast(max_units as bigint) as max_units,
        cast(units_per_case as bigint) as units_per_case,
        cast(min_shipment_units as bigint) as min_shipment_units,
        cast(supplier_lead_days as bigint) as supplier_lead_days,
        cast(min_order_quantity as bigint) as min_order_quantity,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
