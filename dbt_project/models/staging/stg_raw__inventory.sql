with source as (
    select * from {{ source('raw', 'inventory') }}
),

renamed as (
    select
        cast(snapshot_date as date) as snapshot_date,
        cast(warehouse_id as varchar) as warehouse_id,
        cast(sku as varchar) as sku,
        cast(on_hand as bigint) as on_hand,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
