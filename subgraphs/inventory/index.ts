import { runSubgraph } from '../common/server';
import { inventorySubgraph } from './server';

runSubgraph(inventorySubgraph);
