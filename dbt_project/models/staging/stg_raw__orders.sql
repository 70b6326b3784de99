with source as (
    select * from {{ source('raw', 'orders') }}
),

renamed as (
    select
        cast(order_id as varchar) as order_id,
        cast(order_date as timestamp) as ordered_at,
        cast(order_date as date) as order_date,
        cast(marketplace as varchar) as marketplace,
        cast(sku as varchar) as sku,
        cast(quantity as bigint) as quantity,
        cast(unit_price as double) as unit_price,
        cast(currency as varchar) as currency,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
