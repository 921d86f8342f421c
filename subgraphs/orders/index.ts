import { runSubgraph } from '../common/server';
import { ordersSubgraph } from './server';

runSubgraph(ordersSubgraph);
