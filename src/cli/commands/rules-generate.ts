import { writeFile } from 'node:fs/promises';
import { ConfigError } from '../../errors.js';
import {
  alertSettingWarnings,
  DEFAULT_PROMETHEUS_RULE_META,
  generateAlertRules,
  toPrometheusRuleCrd,
  toPrometheusRuleYaml,
} from '../../export/rules.js';
import type { FlagsOf } from '../commands.js';
import type { CliIo } from '../index.js';
import { cliConfig } from '../shared.js';

/**
 * Writes the alert rules of the config (its `alerts:` sections and models): a Prometheus rules
 * file or a PrometheusRule. Warns on stderr about settings whose absence makes pages less useful.
 */
export async function run(flags: FlagsOf<'rules generate'>, io: CliIo): Promise<number> {
  const config = await cliConfig(flags, { needsPiiKey: false });
  const format = flags.format ?? 'rules';
  if (format !== 'rules' && format !== 'crd') {
    throw new ConfigError(
      `--format must be "rules" (Prometheus rules file) or "crd" (PrometheusRule), got "${format}"`,
    );
  }
  const rules = generateAlertRules(config);
  for (const warning of alertSettingWarnings(config)) io.err.write(`warning: ${warning}\n`);
  const text =
    format === 'rules'
      ? toPrometheusRuleYaml(rules)
      : toPrometheusRuleCrd(rules, DEFAULT_PROMETHEUS_RULE_META);
  if (flags.out) {
    await writeFile(flags.out, text);
    io.err.write(`wrote ${flags.out}\n`);
  } else {
    io.out.write(text);
  }
  return 0;
}
