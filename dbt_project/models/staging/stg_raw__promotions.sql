with source as (
    select * from {{ source('raw', 'promotions') }}
),

renamed as (
    select
        cast(promotion_id as varchar) as promotion_id,
        cast(sku as varchar) as sku,
        cast(marketplace as varchar) as marketplace,
        cast(promo_type as varchar) as promo_type,
        cast(discount_pct as double) as discount_pct,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
