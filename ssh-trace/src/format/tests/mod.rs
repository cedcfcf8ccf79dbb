mod ecs;
mod json_schema;
mod ocsf;
