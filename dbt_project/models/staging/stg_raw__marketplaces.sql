with source as (
    select * from {{ source('raw', 'marketplaces') }}
),

renamed as (
    select
        cast(marketplace as varchar) as marketplace,
        cast(name as varchar) as marketplace_name,
        cast(country as varchar) as country,
        cast(region as varchar) as region,
        cast(currency as varchar) as currency,
        cast(vat_rate as double) as vat_rate,
        cast(referral_fee_rate as double) as referral_fee_rate,
        cast(prices_include_vat as boolean) as prices_include_vat,
        cast(customs_basis as varchar) as customs_basis,
        cast(fulfilment_fee_per_unit as double) as fulfilment_fee_per_unit,
        cast(fulfilment_fee_per_kg as double) as fulfilment_fee_per_kg,
        cast(customs_union as varchar) as customs_union,
        cast(_source_file as varchar) as source_file,
        cast(_source_row as bigint) as source_row,
        cast(_ingested_at as timestamp) as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
