/**
 * The tests' way to play a container on the local cluster. It is the local cluster's own part
 * (deploy/dev/kubernetes/simulated-container.ts, which the example embedder of
 * `npm start -- --with-kubernetes` uses too); tests import it from here because code under
 * services/ may not import deploy/.
 */
export { SimulatedContainer, until } from '../../deploy/dev/kubernetes/simulated-container.ts';
