import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The demo's real data: daily weather of Seattle and New York, 2012–2015, from the
 * `vega-datasets` npm package (NOAA observations). A small logistic model trained on spring
 * 2012 predicts "wet day" (rain, drizzle or snow) from temperatures, wind and location; the
 * rest of the record, replayed in date order, drifts with the seasons.
 */
export interface WeatherDay {
  location: string;
  date: string;
  ts: number;
  precipitation: number;
  tempMax: number;
  tempMin: number;
  wind: number;
  weather: string;
  wet: 0 | 1;
}

export async function loadWeather(): Promise<WeatherDay[]> {
  const main = fileURLToPath(import.meta.resolve('vega-datasets'));
  const file = new URL('../data/weather.csv', `file://${main}`);
  const text = await readFile(file, 'utf8');
  const [header, ...lines] = text.trim().split('\n');
  const cols = header!.split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`weather.csv has no column ${name}`);
    return i;
  };
  const [iLoc, iDate, iPrec, iMax, iMin, iWind, iWeather] = [
    at('location'),
    at('date'),
    at('precipitation'),
    at('temp_max'),
    at('temp_min'),
    at('wind'),
    at('weather'),
  ];
  const days = lines.map((line) => {
    const f = line.split(',');
    const weather = f[iWeather]!;
    return {
      location: f[iLoc]!,
      date: f[iDate]!,
      // Noon UTC: one event per city and day, well inside its day.
      ts: Date.parse(`${f[iDate]}T12:00:00Z`),
      precipitation: Number(f[iPrec]),
      tempMax: Number(f[iMax]),
      tempMin: Number(f[iMin]),
      wind: Number(f[iWind]),
      weather,
      wet: (weather === 'rain' || weather === 'drizzle' || weather === 'snow' ? 1 : 0) as 0 | 1,
    };
  });
  return days.sort((a, b) => a.ts - b.ts || a.location.localeCompare(b.location));
}

export interface WetDayModel {
  predict(day: WeatherDay): number;
  weights: number[];
}

function inputs(d: WeatherDay): number[] {
  return [1, d.tempMax / 10, d.tempMin / 10, d.wind / 5, d.location === 'Seattle' ? 1 : 0];
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Plain batch gradient descent on the log loss, L2-regularised; deterministic. */
export function trainWetDayModel(days: readonly WeatherDay[]): WetDayModel {
  const w = [0, 0, 0, 0, 0];
  const lr = 0.5;
  const l2 = 1e-3;
  for (let iter = 0; iter < 2000; iter++) {
    const grad = [0, 0, 0, 0, 0];
    for (const d of days) {
      const x = inputs(d);
      const err = sigmoid(x.reduce((s, xi, i) => s + xi * w[i]!, 0)) - d.wet;
      for (let i = 0; i < x.length; i++) grad[i]! += err * x[i]!;
    }
    for (let i = 0; i < w.length; i++) w[i]! -= lr * (grad[i]! / days.length + l2 * w[i]!);
  }
  return {
    weights: w,
    predict: (d) => sigmoid(inputs(d).reduce((s, xi, i) => s + xi * w[i]!, 0)),
  };
}

/** The prediction event the "live model" logs for a day. */
export function toPredictionEvent(d: WeatherDay, model: WetDayModel, version: string) {
  return {
    model: 'weather-wet-day',
    version,
    id: `${d.location === 'Seattle' ? 'sea' : 'nyc'}-${d.date}`,
    ts: new Date(d.ts).toISOString(),
    features: {
      temp_max: d.tempMax,
      temp_min: d.tempMin,
      wind: d.wind,
      precipitation: d.precipitation,
      location: d.location,
    },
    prediction: Number(model.predict(d).toFixed(6)),
  };
}
