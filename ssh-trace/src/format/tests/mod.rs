mod ecs;
mod json;
mod json_schema;
mod ocsf;
