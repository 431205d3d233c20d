-- One load's staging rows, shaped for the application table. {staging} and {load_id} are filled in by Intake.
select property_id,
       apn,
       initcap(address)         as address_line,
       upper(city)              as city,
       upper(state)             as state,
       zip,
       land_use,
       assessed_value,
       year_built,
       last_sale_date,
       _intake_load_id          as source_load
from {staging}
where _intake_load_id = {load_id}
