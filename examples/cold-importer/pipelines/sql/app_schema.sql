-- The application table the merge step upserts into (idempotent; runs in the merge's transaction).
create schema if not exists app;
create table if not exists app.properties (
    property_id    bigint primary key,
    apn            text not null,
    address_line   text not null,
    city           text not null,
    state          char(2) not null,
    zip            text,
    land_use       text,
    assessed_value numeric(14, 2),
    year_built     integer,
    last_sale_date date,
    source_load    bigint not null
);
