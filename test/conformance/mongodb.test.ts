import { defineConnectorConformance } from './connector-conformance';
import { mongodbFactory } from './sources/mongodb-source';

defineConnectorConformance(mongodbFactory);
