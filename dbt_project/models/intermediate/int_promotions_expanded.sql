-- Promotions spread to one row per SKU x marketplace x day; overlapping promotions keep the
-- deepest discount.
with promotions as (
    select * from {{ ref('stg_raw__promotions') }}
),

days as (
    select
        sku,
        marketplace,
        promotion_id,
        discount_pct,
        cast(unnest(generate_series(start_date, end_date, interval 1 day)) as date) as promo_date
    from promotions
),

final as (
    select
        sku,
        marketplace,
        promo_date,
        max(discount_pct) as discount_pct,
        count(distinct promotion_id) as promotions
    from days
    group by sku, marketplace, promo_date
)

select * from final
