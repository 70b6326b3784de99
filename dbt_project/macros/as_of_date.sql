{#- The as-of date of a build as a SQL date expression: var as_of_date, else the latest order
    date (orders are the one required entity, so the history always ends there). -#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        coalesce(
            (select max(order_date) from {{ ref('stg_raw__orders') }}),
            current_date
        )
    {%- endif -%}
{%- endmacro %}

{#- First day of the order history: the demand grid and landed cost never reach before it. -#}
{% macro history_start_date() -%}
    coalesce(
        (select min(order_date) from {{ ref('stg_raw__orders') }}),
        current_date
    )
{%- endmacro %}

{#- Units a shipment's fixed cost is amortised over, for a SQL mode column. -#}
{% macro units_per_shipment(mode_column) -%}
    {%- set per_mode = var('units_per_shipment') -%}
    case {{ mode_column }}
        {%- for mode, units in per_mode.items() %}
        when '{{ mode }}' then {{ units }}
        {%- endfor %}
        else 1
    end
{%- endmacro %}
