-- Tariff measures that can apply to a listing on some date: destination is the marketplace's
-- country or its customs union, origin is the SKU's or ALL, and the measure's HS prefix is a
-- prefix of the SKU's HS code. The prefix match is an equi-join on every prefix of the code.
with listings as (
    select * from {{ ref('int_listings_identified') }}
    where hs_code is not null
),

measures as (
    select * from {{ ref('stg_raw__tariff_measures') }}
),

listing_prefixes as (
    select
        listings.*,
        left(
            listings.hs_code, cast(unnest(generate_series(2, length(listings.hs_code))) as integer)
        )
            as hs_code_prefix
    from listings
),

final as (
    select
        listing_prefixes.sku,
        listing_prefixes.marketplace,
        listing_prefixes.hs_code,
        listing_prefixes.origin_country as sku_origin_country,
        listing_prefixes.destination_country,
        measures.measure_id,
        measures.destination,
        measures.hs_code_prefix,
        measures.origin_country,
        measures.measure_type,
        measures.rate_type,
        measures.ad_valorem_rate,
        measures.specific_rate,
        measures.specific_unit,
        measures.rate_currency,
        measures.value_threshold,
        measures.threshold_currency,
        measures.valid_from,
        measures.valid_to,
        measures.legal_basis
    from listing_prefixes
    inner join measures
        on listing_prefixes.hs_code_prefix = measures.hs_code_prefix
            and (
                listing_prefixes.destination_country = measures.destination
                or listing_prefixes.destination_union = measures.destination
            )
            and (
                listing_prefixes.origin_country = measures.origin_country
                or measures.origin_country = 'ALL'
            )
)

select * from final
