-- name: service_session_user
-- The role the database authenticated, whatever role the session has since taken.
SELECT session_user;

-- name: service_set_actor
-- Who is acting, for the session: what mendb records (runs, proposals, repair
-- events) names them unless a transaction names another.
SELECT set_config('mendb.actor', %(actor)s, false);
