{#- The pricing assets write pricing.planned_prices for the next run's price plan. Before the
    first pricing run (or on a warehouse built by dbt alone) it does not exist: create it empty,
    so fct_price_plan plans the seller's price list alone. -#}
{% macro ensure_pricing_sources() %}
    {%- set published = source('pricing', 'planned_prices') -%}
    create schema if not exists {{ published.schema }};
    create table if not exists {{ published }} (
        sku varchar,
        marketplace varchar,
        plan_date date,
        list_price_local double
    );
{% endmacro %}
