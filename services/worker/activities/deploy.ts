/**
 * The deploy hook of model promotion (`deployModel`, preset `deploy`). The default only logs: a
 * serving system (KServe, a model gateway) plugs in as `ModelDeployer`. A deployer that refuses
 * a version throws; the model-promotion workflow then switches the alias back.
 */
import { Context } from '@temporalio/activity';

export interface DeployModelInput {
  department: string;
  model: string;
  alias: string;
  version: string;
}

export type ModelDeployer = (input: DeployModelInput) => Promise<void>;

export const loggingDeployer: ModelDeployer = async (input) => {
  Context.current().log.info('deployModel: no deployer configured, nothing to roll out', { ...input });
};

export function createDeployActivities(deployer: ModelDeployer = loggingDeployer) {
  return {
    async deployModel(input: DeployModelInput): Promise<{ deployed: true }> {
      await deployer(input);
      return { deployed: true };
    },
  };
}

export type DeployActivities = ReturnType<typeof createDeployActivities>;
