-- Tariff exposure per SKU x marketplace as of the as-of date, on the ocean mode (else the
-- cheapest mode): the duty share of landed cost now, and the next date within
-- var future_horizon_days on which the applied measures or the duty change, with the duty and
-- landed cost after it and the measures that start or stop applying.
with landed_cost as (
    select * from {{ ref('mart_landed_cost') }}
),

now as (
    select *
    from landed_cost
    where is_as_of
    qualify row_number() over (
            partition by sku, marketplace
            order by (mode = 'ocean') desc nulls last, landed_cost_usd asc nulls last, mode asc
        ) = 1
),

changes as (
    select
        future.sku,
        future.marketplace,
        future.mode,
        future.effective_date,
        future.duty_total_usd,
        future.duty_total_local,
        future.landed_cost_usd,
        future.applied_measure_ids
    from landed_cost as future
    inner join now
        on future.sku = now.sku
            and future.marketplace = now.marketplace
            and future.mode is not distinct from now.mode
            and future.effective_date > now.effective_date
    where future.applied_measure_ids <> now.applied_measure_ids
        or future.duty_total_usd is distinct from now.duty_total_usd
    qualify row_number() over (
            partition by future.sku, future.marketplace order by future.effective_date
        ) = 1
),

final as (
    select
        -- ids
        now.sku,
        now.marketplace,
        now.mode,
        now.effective_date as as_of_date,
        now.currency,
        -- now
        now.landed_cost_usd,
        now.duty_total_usd,
        now.duty_total_local,
        case when now.landed_cost_usd > 0 then now.duty_total_usd / now.landed_cost_usd end
            as duty_share_of_landed_cost,
        now.applied_measure_ids,
        -- next change
        changes.effective_date as next_change_date,
        changes.duty_total_usd as duty_after_change_usd,
        changes.duty_total_local as duty_after_change_local,
        changes.duty_total_usd - now.duty_total_usd as duty_change_usd,
        changes.landed_cost_usd as landed_cost_after_change_usd,
        changes.landed_cost_usd - now.landed_cost_usd as landed_cost_change_usd,
        changes.applied_measure_ids as applied_measure_ids_after_change,
        array_to_string(list_filter(
            string_split(changes.applied_measure_ids, ','),
            lambda m: m <> '' and not list_contains(string_split(now.applied_measure_ids, ','), m)
        ), ',') as measures_starting,
        array_to_string(list_filter(
            string_split(now.applied_measure_ids, ','),
            lambda m: m <> ''
            and not list_contains(string_split(changes.applied_measure_ids, ','), m)
        ), ',') as measures_ending
    from now
    left join changes
        on now.sku = changes.sku
            and now.marketplace = changes.marketplace
)

select * from final
