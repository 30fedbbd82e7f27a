-- First start of the compose stack's PostgreSQL: MLflow's backend store gets a database of its
-- own; `scoreline` (POSTGRES_DB) holds the prediction store and the Optuna studies.
CREATE DATABASE mlflow OWNER scoreline;
