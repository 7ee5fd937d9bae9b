// cluster/nginx.conf pointed at other ports, for `npm run cluster --http-ports ...` and the fault suite's nginx.

/**
 * The shipped config pointed at other ports: node i's client port 808<i> (as `npm run cluster` has them by default)
 * becomes httpPorts[i - 1] everywhere (the pool and each node's own upstream), and nginx listens on `listenPort`.
 * @param {string} conf
 * @param {readonly number[]} httpPorts
 * @param {number} listenPort
 * @returns {string}
 */
export function pointAt(conf, httpPorts, listenPort) {
  const shipped = [...new Set(conf.match(/(?<=server 127\.0\.0\.1:)\d+/g) ?? [])];
  if (shipped.length !== httpPorts.length) throw new Error(`cluster/nginx.conf names ${shipped.length} node ports, not ${httpPorts.length}`);
  const pointed = conf.replace(/(server 127\.0\.0\.1:)(\d+)/g, (_m, head, port) => `${head}${httpPorts[shipped.indexOf(port)]}`);
  if (!/listen 127\.0\.0\.1:\d+/.test(pointed)) throw new Error('cluster/nginx.conf: no "listen 127.0.0.1:<port>" to point');
  return pointed.replace(/listen 127\.0\.0\.1:\d+/, `listen 127.0.0.1:${listenPort}`);
}
