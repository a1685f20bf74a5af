// TEMPORARY placeholder until core/job.ts lands; replaced by direct imports.
import { Schema } from "effect"
export const JobIdSchema = Schema.String
export const PortMappingSchema = Schema.Struct({ internalPort: Schema.Number, externalPort: Schema.optionalKey(Schema.Number), protocol: Schema.optionalKey(Schema.Literals(["tcp", "udp"])), ip: Schema.optionalKey(Schema.String) })
export const JobSchema = Schema.Struct({ id: Schema.String, image: Schema.String, env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)), metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)), ports: Schema.optionalKey(Schema.Record(Schema.String, PortMappingSchema)) })
