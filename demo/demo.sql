-- pgmesh demo schema: roles, schema, privileges, data (PostgREST's fixture order).
-- Loaded by `cargo xtask up` and by the end-to-end tests into a throwaway cluster.

-- Roles: the authenticator logs in and switches to web_anon (no token) or web_user (JWT).
create role authenticator login noinherit;
create role web_anon nologin;
create role web_user nologin;
grant web_anon to authenticator;
grant web_user to authenticator;

create schema api;

create table api.directors (
  id    int primary key,
  name  text not null
);

create table api.films (
  id          int primary key,
  title       text not null,
  year        int,
  rating      numeric(3,1),
  director_id int references api.directors(id),
  tags        text[]
);

create table api.actors (
  id    int primary key,
  name  text not null
);

create table api.roles (
  film_id   int references api.films(id),
  actor_id  int references api.actors(id),
  character text,
  primary key (film_id, actor_id)
);

-- Readable only by authenticated users.
create table api.reviews (
  id      serial primary key,
  film_id int references api.films(id),
  author  text not null,
  body    text
);

create view api.recent_films as
  select id, title, year from api.films where year >= 2000;

create function api.film_count(min_year int default 0) returns bigint
  language sql stable
  as $$ select count(*) from api.films where year >= min_year $$;

grant usage on schema api to web_anon, web_user;
grant select on api.directors, api.films, api.actors, api.roles, api.recent_films to web_anon, web_user;
grant select, insert, update, delete on api.reviews to web_user;
grant usage on sequence api.reviews_id_seq to web_user;
grant execute on function api.film_count(int) to web_anon, web_user;

insert into api.directors values
  (1, 'Denis Villeneuve'), (2, 'Greta Gerwig'), (3, 'Hayao Miyazaki');

insert into api.films values
  (1, 'Arrival', 2016, 7.9, 1, '{sci-fi,drama}'),
  (2, 'Dune', 2021, 8.0, 1, '{sci-fi}'),
  (3, 'Lady Bird', 2017, 7.4, 2, '{comedy,drama}'),
  (4, 'Little Women', 2019, 7.8, 2, '{drama}'),
  (5, 'Spirited Away', 2001, 8.6, 3, '{animation,fantasy}'),
  (6, 'My Neighbor Totoro', 1988, 8.1, 3, '{animation}'),
  (7, 'Untitled', null, null, null, null);

insert into api.actors values (1, 'Amy Adams'), (2, 'Timothée Chalamet'), (3, 'Saoirse Ronan');

insert into api.roles values
  (1, 1, 'Louise Banks'), (2, 2, 'Paul Atreides'), (3, 3, 'Christine McPherson'),
  (4, 3, 'Jo March'), (4, 2, 'Laurie');

insert into api.reviews (film_id, author, body) values (1, 'ann', 'Loved it');
