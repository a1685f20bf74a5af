import { javaSplit } from "./java-split.ts"

// Docker image references as Helios checks them (JobValidator.validateImageReference).

const NAME_COMPONENT = /^[a-z0-9._-]+$/
const REPO_NAME_MAX_LENGTH = 255
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const DOMAIN_PATTERN =
  /^(?:(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))(\.(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])))*)\.?$/
const DIGIT_PERIOD = /^[0-9.]+$/
const JAVA_INT_MIN = -(2 ** 31)
const JAVA_INT_MAX = 2 ** 31 - 1
const INVALID_REPO = 'Invalid repository name (ex: "registry.domain.tld/myrepos")'

const repositoryNameProblem = (imageName: string, repositoryName: string): string | undefined => {
  // Stricter than Java's split("/"), which ignores trailing empty components ("repo/").
  for (const component of repositoryName.split("/")) {
    if (!NAME_COMPONENT.test(component))
      return `Invalid image name (${imageName}), only ^([a-z0-9._-]+)$ is allowed for each slash-separated name component (failed on "${component}")`
  }
  if (repositoryName.length > REPO_NAME_MAX_LENGTH)
    return `Invalid image name (${imageName}), repository name cannot be larger than ${REPO_NAME_MAX_LENGTH} characters`
  return undefined
}

const endpointProblem = (endpoint: string): string | undefined => {
  const [address = "", port] = javaSplit(endpoint, ":", 2)
  if (!IPV4_PATTERN.test(address) && (!DOMAIN_PATTERN.test(address) || DIGIT_PERIOD.test(address)))
    return `Invalid domain name: "${address}"`
  if (port !== undefined) {
    // Integer.valueOf: optional sign, decimal digits, within a Java int.
    const n = /^[+-]?\d+$/.test(port) ? Number(port) : Number.NaN
    if (!(n >= JAVA_INT_MIN && n <= JAVA_INT_MAX) || n < 0 || n > 65535) return `Invalid port in endpoint: "${endpoint}"`
  }
  return undefined
}

/**
 * Helios's Docker image reference rules: `[registry[:port]/]name[/name...][:tag][@digest]`, lower-case
 * name components `[a-z0-9._-]+`, repository at most 255 characters, tag `[\w][\w.-]{0,127}`,
 * digest `algorithm:hex`, no URL scheme. Returns every problem found (empty when valid).
 */
export const imageReferenceProblems = (imageRef: string): ReadonlyArray<string> => {
  if (imageRef === "") return ["Image was not specified"]
  const problems: string[] = []
  const add = (p: string | undefined) => {
    if (p !== undefined) problems.push(p)
  }
  let rest = imageRef
  const at = imageRef.lastIndexOf("@")
  if (at !== -1) {
    const digest = imageRef.slice(at + 1)
    rest = imageRef.slice(0, at)
    const first = digest.indexOf(":")
    if (digest === "") add("Digest cannot be empty")
    else if (first <= 0 || first !== digest.lastIndexOf(":") || first === digest.length - 1)
      add(`Illegal digest: "${digest}"`)
  }
  let repo = rest
  const colon = rest.lastIndexOf(":")
  if (colon !== -1 && !rest.slice(colon + 1).includes("/")) {
    const tag = rest.slice(colon + 1)
    repo = rest.slice(0, colon)
    if (tag === "") add("Tag cannot be empty")
    else if (!TAG_PATTERN.test(tag)) add(`Illegal tag: "${tag}", must match [\\w][\\w.-]{0,127}`)
  }
  if (repo.includes("://")) return [...problems, INVALID_REPO]
  const [first = "", remainder] = javaSplit(repo, "/", 2)
  if (!first.includes(".") && !first.includes(":") && first !== "localhost") {
    // A Docker Hub repository (ubuntu, samalba/hipache).
    add(repositoryNameProblem(imageRef, repo))
    return problems
  }
  if (remainder === undefined) return [...problems, INVALID_REPO]
  add(endpointProblem(first))
  add(repositoryNameProblem(imageRef, remainder))
  return problems
}
