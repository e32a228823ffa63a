-- An application's schema script that would break the session store if it ran after the store had created its
-- tables: the store must be built after the application's database initialization.
DROP TABLE IF EXISTS openai_proxy_messages;
DROP TABLE IF EXISTS openai_proxy_sessions;
DROP TABLE IF EXISTS openai_proxy_schema_version;
CREATE TABLE IF NOT EXISTS application_things (id INT PRIMARY KEY);
