-- One row per seller pricing rule; an empty sku, marketplace or category means "every" (the
-- scope), an empty setting inherits from the broader scope (ml/pricing/rules.py).
with source as (
    select * from {{ source('raw', 'pricing_rules') }}
),

renamed as (
    select
        cast(sku as varchar) as sku,
        cast(marketplace as varchar) as marketplace,
        cast(category as varchar) as category,
        cast(min_price as double) as min_price,
        cast(max_price as double) as max_price,
        cast(min_margin as double) as min_margin,
        cast(max_change as double) as max_change,
        cast(strategy as varchar) as strategy,
        cast(reference_marketplace as varchar) as reference_marketplace,
        cast(band as double) as band,
        cast(reference_markup as double) as reference_markup,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
