import { runSubgraph } from '../common/server';
import { usersSubgraph } from './server';

runSubgraph(usersSubgraph);
